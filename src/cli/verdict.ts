/**
 * Cause analysis: from the probes' structured outcomes, name the most likely reason each
 * transport failed (with its fix in the language of the proxy in front), then rank the findings
 * and say which transport clients get. No decision reads a message string.
 */
import { corsFixes, hostFixes } from './fixes'
import { PROXY_NAMES } from './proxies'
import type { HttpResult } from './probes/http'
import type { PostResult } from './probes/post'
import type { SseResult } from './probes/sse'
import type { WsResult } from './probes/ws'
import type { Cause, DoctorReport, Finding, Run } from './types'
import { compressionFinding, postFinding, sseFinding } from './verdict-sse'
import { webSocketFinding } from './verdict-ws'

/** Everything the probes learned, for the analysis. `wsControl`: the handshake repeated without Origin. */
export interface Evidence {
  plain: HttpResult
  ws: WsResult
  wsControl?: WsResult
  sse: SseResult
  post: PostResult
}

/** Did the server refuse the WebSocket because of the `Origin`? From its code (C2), else by the repeat without Origin. */
export function wsRefusedOnOrigin(ev: Evidence): boolean {
  const { ws, wsControl } = ev
  if (ws.serverError?.code === 'origin_not_allowed') return true
  return ws.outcome !== 'pong' && wsControl?.outcome === 'pong'
}

/** Should the handshake be repeated without `Origin` to find out? Only for an answer with no code that says otherwise. */
export function needsWsControl(run: Run, ws: WsResult): boolean {
  if (!run.headers.ws.Origin || ws.outcome === 'pong' || ws.serverError?.code === 'origin_not_allowed') return false
  return (ws.outcome === 'refused' && ws.status === 403) || (ws.outcome === 'error_frame' && ws.serverError?.code === 'forbidden') || ws.closeCode === 4403
}

function originRefused(ev: Evidence): { ws: boolean; post: boolean; message?: string } {
  const ws = wsRefusedOnOrigin(ev)
  const post = ev.post.originRefused || ev.post.serverError?.code === 'origin_not_allowed'
  const message = [ev.ws.serverError, ev.post.serverError].find((e) => e?.code === 'origin_not_allowed')?.message
  return { ws, post, message }
}

/** The Origin was refused: a Host-rewriting proxy when the page is same-origin, else the origin is not allowed. */
function originFinding(run: Run, ev: Evidence): Finding | undefined {
  const refused = originRefused(ev)
  if (!refused.ws && !refused.post) return undefined
  const what = [refused.ws && 'the WebSocket', refused.post && 'every POST'].filter(Boolean).join(' and ')
  const said = refused.message ? ` The server said: "${refused.message}"` : ''
  if (!run.crossOrigin) {
    const proxy = run.proxy.kind === 'unknown' ? 'the proxy in front' : `the proxy in front (${PROXY_NAMES[run.proxy.kind]}, by ${run.proxy.evidence})`
    return {
      cause: 'host_rewritten',
      severity: 'error',
      message:
        `Pages on ${run.origin} are refused: the server compared their Origin with the Host it received, and they differ, so ${proxy} rewrites \`Host\` ` +
        `(a port dropped, or the backend's name put in). Browsers send Origin on ${what}, so they cannot connect or send; non-browser clients, which send no Origin, are not affected.${said}`,
      fixes: hostFixes(run.proxy.kind),
    }
  }
  if (run.findings.some((f) => f.cause === 'cors_missing')) return undefined
  return { cause: 'origin_forbidden', severity: 'error', message: `${what} from ${run.origin} was refused: the server does not allow this origin.${said}`, fixes: corsFixes(run.origin!) }
}

/** HTTP/1.1 only (plain http, or https without h2): the browser's per-host connection limit matters for SSE. */
function http1Finding(run: Run, transport: DoctorReport['transport']): Finding | undefined {
  const https = run.ep.sse.protocol === 'https:'
  if (run.alpn === 'h2' || (!https && transport !== 'sse')) return undefined
  return {
    cause: 'http1_only',
    severity: 'info',
    message:
      `${https ? 'The endpoint does not negotiate HTTP/2 (ALPN chose http/1.1)' : 'Plain http:// is HTTP/1.1 in every browser'}: browsers open at most 6 HTTP/1.1 connections per host, and every SSE stream holds one for as long as it lives. ` +
      `With clients on SSE + POST, more than about five tabs of one browser (unless they share one connection) exhaust them: new tabs stall and the app's own fetch() calls to that host hang. ` +
      `WebSocket connections do not count against this limit; HTTP/2 (https with h2 at the proxy) carries every stream on one connection.`,
    fixes: [],
  }
}

/** Add the findings for what did not work. Returns the transport clients will get. */
export function diagnose(run: Run, ev: Evidence): DoctorReport['transport'] {
  const has = (...c: Cause[]) => run.findings.some((f) => c.includes(f.cause))
  const add = (f: Finding | undefined) => f && run.findings.push(f)
  const wsOk = ev.ws.outcome === 'pong'
  const sseLive = ev.sse.outcome === 'live'
  const sseOk = sseLive && ev.post.outcome === 'pong'
  const origin = originFinding(run, ev)
  add(origin)
  if (!wsOk && !(origin && wsRefusedOnOrigin(ev))) add(webSocketFinding(run, ev, sseOk))
  if (!sseLive && !has('path_not_routed')) add(sseFinding(run, ev, wsOk, has))
  if (sseLive) add(postFinding(run, ev, wsOk))
  add(compressionFinding(run, ev))
  // A fatal error frame on the WebSocket stops clients: they do not try SSE after it (C2).
  const fatal = ev.ws.outcome === 'error_frame' && ev.ws.serverError?.fatal === true
  const transport = wsOk ? 'websocket' : sseOk && !fatal ? 'sse' : null
  add(http1Finding(run, transport))
  return transport
}

const RANK = { error: 0, warn: 1, info: 2 } as const
/** WebSocket-only causes: when nothing works, the fallback's problem is the one to name first (SSE must work everywhere). */
const WS_ONLY = new Set<Cause>(['upgrade_headers_dropped', 'ws_blocked', 'ws_no_hello', 'ws_no_pong', 'ws_path_not_routed', 'ws_refused'])
/** Causes that block browsers even when a transport works for other clients. */
const BROWSER_BLOCKED = new Set<Cause>(['mixed_content', 'cors_missing', 'origin_forbidden', 'host_rewritten'])

function verdictLine(transport: DoctorReport['transport'], ok: boolean, worst: Finding | null): string {
  if (!ok) {
    return transport
      ? `Clients would get ${transport === 'websocket' ? 'WebSocket' : 'SSE + POST'}, but browsers on the given origin are blocked: ${worst?.cause}.`
      : `No transport works: clients cannot connect${worst ? ` (most likely: ${worst.cause})` : ''}.`
  }
  return transport === 'websocket'
    ? `Clients will use WebSocket${worst ? ` (with a warning: ${worst.cause})` : ''}.`
    : `Clients will use SSE + POST: WebSocket does not work here${worst ? ` (most likely: ${worst.cause})` : ''}.`
}

/** Rank the findings (worst first), decide the exit code and write the verdict. */
export function buildReport(run: Run, transport: DoctorReport['transport'], sseEncoding?: string): DoctorReport {
  const { ep, probes, findings } = run
  findings.sort((a, b) => RANK[a.severity] - RANK[b.severity] || Number(WS_ONLY.has(a.cause)) - Number(WS_ONLY.has(b.cause)))
  const browserBlocked = findings.some((f) => f.severity === 'error' && BROWSER_BLOCKED.has(f.cause))
  const ok = transport !== null && !browserBlocked
  const worst = findings.find((f) => f.severity !== 'info') ?? null
  return {
    url: run.target,
    endpoints: { websocket: ep.websocket.href, sse: ep.sse.href, post: ep.post.href },
    probes,
    transport,
    ok,
    cause: worst?.cause ?? null,
    proxy: run.proxy,
    via: run.dial.proxy?.host,
    alpn: run.alpn,
    sseEncoding,
    verdict: verdictLine(transport, ok, worst),
    findings,
  }
}
