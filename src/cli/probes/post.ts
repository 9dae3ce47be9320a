/** The POST side: a ping → pong round trip on a live session, and the bye that ends the probe's session. */
import { PROTOCOL_VERSION, QUERY } from '../../protocol'
import { withQuery } from '../../client/url'
import { pathFixes } from '../fixes'
import type { Run } from '../types'
import { request, type HttpResult } from './http'
import { describeServer, now, round } from './util'

function postFrames(run: Run, sid: string, body: string): Promise<HttpResult> {
  const url = withQuery(run.ep.post, { [QUERY.version]: PROTOCOL_VERSION, [QUERY.session]: sid })
  return request(url, { method: 'POST', headers: { ...run.common, ...run.auth, 'Content-Type': 'application/json' }, body }, run.timeoutMs)
}

function hasPong(r: HttpResult): boolean {
  try {
    return r.status === 200 && (JSON.parse(r.body) as { t?: string }[]).some((f) => f.t === 'pong')
  } catch {
    return false
  }
}

/**
 * POST a ping on `sid` (the SSE session, else the WebSocket's: sessions span transports).
 * True when a pong came back; `ok` says which transports worked, for the finding's severity.
 */
export async function probePost(run: Run, sid: string | undefined, ok: { ws: boolean; sse: boolean }): Promise<boolean> {
  const { ep } = run
  if (!sid) {
    run.probes.push({ name: 'post', ok: null, detail: 'skipped: no session (neither WebSocket nor SSE said hello)' })
    return false
  }
  const t0 = now()
  const r = await postFrames(run, sid, '[{"t":"ping","n":1}]')
  const pong = hasPong(r)
  run.probes.push({
    name: 'post',
    ok: pong,
    ms: round(now() - t0),
    detail: r.status === undefined ? `POST ${ep.post.pathname}: ${r.error}` : `POST ${ep.post.pathname} → ${r.status}${pong ? ', pong' : `: ${r.body.slice(0, 120)}`}${describeServer(r.headers)}`,
  })
  if (!pong) {
    run.findings.push({
      cause: 'post_failed',
      severity: ok.sse && !ok.ws ? 'error' : 'warn',
      message: `A POST to ${ep.post.pathname} with a valid session did not get a pong (${r.status ?? r.error}). SSE clients cannot send. If SSE and POST go to different backends, they must share sessions (one process, or the Redis backplane).`,
      fixes: r.status === 404 ? pathFixes(ep.post.pathname) : [],
    })
  }
  return pong
}

/** End the probe's SSE session at once rather than letting it expire (not awaited). */
export function endSession(run: Run, sid: string | undefined): void {
  if (sid) void postFrames(run, sid, '[{"t":"bye"}]')
}
