/**
 * `surewire doctor <url>`: probe a deployment the way browsers and clients will use it and say
 * which transport they will get, and for every failure the most likely cause and its fix.
 *
 * Probes, in order, each timed: the forward proxy (with --proxy / HTTPS_PROXY), DNS, TCP, TLS
 * (https, with ALPN: HTTP/2 or not), plain HTTP to the endpoint, the raw WebSocket handshake
 * with the page's `Origin` (status line, Server header; repeated without Origin when refused
 * with no code), surewire hello + ping on WebSocket, the SSE stream (gzip/br accepted; time to
 * headers / first byte / hello; live or held back), POST round trips on the SSE session, CORS
 * for a cross-origin page, and optionally an idle period to find a proxy's read timeout.
 *
 * The probes live in ./probes (one file each) and return structured outcomes; ./verdict turns
 * them into findings; this file runs them in order.
 */
import { resolveEndpoints } from '../client/url'
import { probeCors } from './probes/cors'
import { createDialer } from './probes/dial'
import { probePlainHttp, request } from './probes/http'
import { probeIdle } from './probes/idle'
import { probeNetwork } from './probes/network'
import { checkOrigin } from './probes/origin'
import { endSession, probePost } from './probes/post'
import { probeSse } from './probes/sse'
import { attemptWebSocket, closeWebSocket, probeWebSocket } from './probes/ws'
import { recogniseProxy, type ProxyGuess } from './proxies'
import type { DoctorOptions, DoctorReport, Run } from './types'
import { buildReport, diagnose, needsWsControl } from './verdict'

export type { Cause, DoctorOptions, DoctorReport, Finding, Probe, ProbeName } from './types'
export type { ProxyKind, ProxyGuess } from './proxies'

/** Defaults for {@link DoctorOptions}, applied in one place. */
export const doctorDefaults = {
  /** Bound for each probe. */
  timeoutMs: 5_000,
  /** No idle probe unless asked for. */
  idleMs: 0,
} as const

function createRun(target: string, options: DoctorOptions): Run {
  const ep = resolveEndpoints(target, options.paths)
  const timeoutMs = options.timeoutMs ?? doctorDefaults.timeoutMs
  const origin = options.origin === false ? undefined : new URL(options.origin ?? ep.sse.href).origin
  const cross = origin !== undefined && origin !== ep.sse.origin
  const withOrigin: Record<string, string> = origin ? { Origin: origin } : {}
  return {
    target,
    options,
    timeoutMs,
    ep,
    path: ep.sse.pathname,
    origin,
    // Browsers send Origin on every WebSocket handshake and every POST; on a GET only cross-origin.
    headers: { ws: withOrigin, post: withOrigin, sse: cross ? withOrigin : {} },
    auth: options.token ? { Authorization: `Bearer ${options.token}` } : {},
    dial: createDialer(ep.sse, options.proxy, options.ca, timeoutMs),
    seen: [],
    proxy: { kind: 'unknown', evidence: 'no response seen' },
    crossOrigin: false,
    probes: [],
    findings: [],
  }
}

/**
 * The proxy in front, from the realtime path's responses; when they name none, from the site
 * root's (Next.js rewrites pass the backend's headers through, but its own pages say X-Powered-By).
 */
async function recognise(run: Run): Promise<ProxyGuess> {
  const guess = recogniseProxy(run.seen)
  if (guess.kind !== 'unknown' && guess.kind !== 'haproxy') return guess
  const root = await request(run.dial, new URL('/', run.ep.sse).href, {}, run.timeoutMs)
  const fromRoot = root.status === undefined ? undefined : recogniseProxy([root])
  return fromRoot && fromRoot.kind !== 'unknown' && fromRoot.kind !== 'haproxy' ? { kind: fromRoot.kind, evidence: `the site root answered with ${fromRoot.evidence}` } : guess
}

/** Probe a deployment. Never throws for network trouble: that is what the report is for. */
export async function runDoctor(target: string, options: DoctorOptions = {}): Promise<DoctorReport> {
  const run = createRun(target, options)
  checkOrigin(run)
  if (!(await probeNetwork(run))) return buildReport(run, null)
  const plain = await probePlainHttp(run)
  const ws = await probeWebSocket(run)
  const wsControl = needsWsControl(run, ws) ? await attemptWebSocket(run, {}) : undefined
  if (wsControl) closeWebSocket(wsControl)
  const sse = await probeSse(run)
  const post = await probePost(run, sse.outcome === 'live' ? sse.sid : undefined)
  run.proxy = await recognise(run)
  await probeCors(run, ws.status)
  const transport = diagnose(run, { plain, ws, wsControl, sse, post })
  await probeIdle(run, ws, sse)
  endSession(run, sse.sid)
  return buildReport(run, transport, sse.encoding)
}
