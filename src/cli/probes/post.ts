/**
 * The POST side: ping → pong round trips on the session the SSE probe opened (three of them, so
 * a load balancer that spreads requests over processes shows itself), a repeat without
 * `Origin` when the POST was refused (was it the Origin?), and the bye that ends the session.
 */
import { PROTOCOL_VERSION, QUERY } from '../../protocol'
import { withQuery } from '../../client/url'
import type { Run } from '../types'
import { request, type HttpResult } from './http'
import { describeServer, now, round, type ServerError } from './util'

/** How the POSTs went, as data: every one ponged, one was refused (HTTP status), or one failed on the network. */
export type PostOutcome = 'pong' | 'refused' | 'failed' | 'skipped'

export interface PostResult {
  outcome: PostOutcome
  status?: number
  serverError?: ServerError
  /** POSTs sent (up to {@link ROUND_TRIPS}); which one failed, counted from 1. */
  sent: number
  /** A POST for the live session got 404 `session_unknown` (another process that does not share it). */
  sessionUnknown: boolean
  /** Refused with `Origin`, and the same POST without it got a pong: the Origin was the reason. */
  originRefused: boolean
}

/** Enough round trips that round-robin over two or three processes lands on another one. */
const ROUND_TRIPS = 3

function postFrames(run: Run, sid: string, body: string, headers: Record<string, string>): Promise<HttpResult> {
  const url = withQuery(run.ep.post, { [QUERY.version]: PROTOCOL_VERSION, [QUERY.session]: sid })
  return request(run.dial, url, { method: 'POST', headers: { ...headers, ...run.auth, 'Content-Type': 'application/json' }, body }, run.timeoutMs)
}

function hasPong(r: HttpResult): boolean {
  try {
    return r.status === 200 && (JSON.parse(r.body) as { t?: string }[]).some((f) => f.t === 'pong')
  } catch {
    return false
  }
}

/** POST a ping on `sid` (the SSE probe's session) up to three times; stop at the first failure. */
export async function probePost(run: Run, sid: string | undefined): Promise<PostResult> {
  const { ep } = run
  if (!sid) {
    run.probes.push({ name: 'post', ok: null, detail: 'skipped: no SSE session to post to' })
    return { outcome: 'skipped', sent: 0, sessionUnknown: false, originRefused: false }
  }
  const t0 = now()
  let r: HttpResult | undefined
  let sent = 0
  while (sent < ROUND_TRIPS) {
    sent++
    r = await postFrames(run, sid, `[{"t":"ping","n":${sent}}]`, run.headers.post)
    if (r.status !== undefined) run.seen.push(r)
    if (!hasPong(r)) break
  }
  const last = r!
  const pong = hasPong(last)
  const outcome: PostOutcome = pong ? 'pong' : last.status === undefined ? 'failed' : 'refused'
  const sessionUnknown = last.status === 404 && last.serverError?.code === 'session_unknown'
  let originRefused = false
  if (outcome === 'refused' && last.status === 403 && run.headers.post.Origin) {
    const { Origin: _omit, ...without } = run.headers.post
    originRefused = hasPong(await postFrames(run, sid, '[{"t":"ping","n":0}]', without))
  }
  const code = last.serverError ? ` ${last.serverError.code}` : ''
  run.probes.push({
    name: 'post',
    ok: pong,
    ms: round(now() - t0),
    detail:
      last.status === undefined
        ? `POST ${ep.post.pathname}: ${last.error}`
        : `POST ${ep.post.pathname} ×${sent} → ${last.status}${pong ? ', pong' : code}${originRefused ? ' (a pong without Origin)' : ''}${describeServer(last.headers)}`,
  })
  return { outcome, status: last.status, serverError: last.serverError, sent, sessionUnknown, originRefused }
}

/** End the probe's SSE session at once rather than letting it expire (not awaited). */
export function endSession(run: Run, sid: string | undefined): void {
  if (sid) void postFrames(run, sid, '[{"t":"bye"}]', run.headers.post)
}
