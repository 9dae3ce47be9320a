/**
 * Cause analysis: from what the probes saw, name the most likely reason each transport
 * failed (with its fix), then rank the findings and say which transport clients get.
 */
import { bufferingFixes, corsFixes, pathFixes, upgradeFixes } from './fixes'
import type { HttpResult } from './probes/http'
import type { SseResult } from './probes/sse'
import { describeServer } from './probes/util'
import type { WsResult } from './probes/ws'
import type { Cause, DoctorReport, Finding, Run } from './types'

const SUREWIRE_426 = /WebSocket handshake arrived without the Upgrade header/
const SSE_ONLY_426 = /serves SSE \+ POST only/

const has = (run: Run, ...causes: Cause[]) => run.findings.some((f) => causes.includes(f.cause))

/** 426/400 on the handshake: an SSE-only endpoint by design, or a proxy that drops `Upgrade`. */
function upgradeRefused(run: Run, ws: WsResult, sseOk: boolean): Finding {
  if (ws.status === 426 && SSE_ONLY_426.test(ws.body)) {
    return {
      cause: 'ws_not_offered',
      severity: sseOk ? 'info' : 'error',
      message: `This endpoint serves SSE + POST only (a platform without WebSocket upgrades, e.g. a route handler). Clients use SSE + POST by design; pass \`transports: ['sse']\` to skip the WebSocket attempt.`,
      fixes: [],
    }
  }
  const surewire = SUREWIRE_426.test(ws.body)
  const by = typeof ws.headers.server === 'string' ? ws.headers.server : undefined
  return {
    cause: 'upgrade_headers_dropped',
    severity: sseOk ? 'warn' : 'error',
    message:
      (surewire
        ? `The WebSocket handshake reached the surewire server without its Upgrade header (it answered ${ws.status})`
        : `The WebSocket handshake was refused with ${ws.status}${by ? ` by ${by}` : ''}`) +
      `: a proxy in front${by ? ` (${by})` : ''} does not forward \`Upgrade\`/\`Connection\`` +
      (surewire ? '. ' : ', or the server on this path does not take WebSocket upgrades at all (then pass `transports: [\'sse\']` to clients). ') +
      (sseOk ? 'Clients fall back to SSE + POST (works, one more hop per message and no WebSocket).' : 'Clients cannot use WebSocket.'),
    fixes: upgradeFixes(run.ep.websocket.pathname),
  }
}

/** 401/403 on the handshake: the page origin refused (unless CORS already said so), else a token needed. */
function handshakeForbidden(run: Run, ws: WsResult): Finding | undefined {
  const { options } = run
  if (ws.status === 403 && options.origin && run.crossOrigin) {
    if (has(run, 'cors_missing')) return undefined
    return { cause: 'origin_forbidden', severity: 'error', message: `The WebSocket handshake from ${options.origin} was refused with 403: the server does not allow this origin.`, fixes: corsFixes(new URL(options.origin).origin) }
  }
  return { cause: 'auth_required', severity: 'error', message: `The WebSocket handshake was refused with ${ws.status}: pass --token to probe as a signed-in client.`, fixes: [] }
}

/** Why the WebSocket did not work (called only when it did not). */
function webSocketFinding(run: Run, ws: WsResult, sse: SseResult, sseOk: boolean): Finding | undefined {
  const { ep, path } = run
  const severity = sseOk ? 'warn' : 'error'
  if (ws.status === 426 || ws.status === 400) return upgradeRefused(run, ws, sseOk)
  if (ws.status === 404 && sse.status === 404) {
    return {
      cause: 'path_not_routed',
      severity: 'error',
      message: `${ep.websocket.pathname} answered 404${describeServer(ws.headers)} for both WebSocket and SSE: nothing serves this path. The proxy's location does not match it (a path-prefix mistake), or the client's URL points at the wrong path.`,
      fixes: pathFixes(path),
    }
  }
  if (ws.status === 404) return { cause: 'ws_path_not_routed', severity, message: `The WebSocket path ${ep.websocket.pathname} answered 404${describeServer(ws.headers)}: it is not routed to the realtime server.`, fixes: pathFixes(ep.websocket.pathname) }
  if (ws.status === 401 || ws.status === 403) return handshakeForbidden(run, ws)
  if (ws.status && ws.status >= 500) {
    return { cause: 'bad_gateway', severity, message: `The WebSocket handshake got ${ws.status}${describeServer(ws.headers)}: the proxy could not reach the backend (down, wrong upstream port, or it closed the upgraded connection).`, fixes: [] }
  }
  if (ws.status === 101 || ws.probe.ok) {
    return {
      cause: ws.hello?.detail.includes('not a surewire hello') ? 'not_surewire' : ws.hello?.detail.includes('no pong') ? 'ws_no_pong' : 'ws_no_hello',
      severity,
      message: `The WebSocket upgraded (101) but ${ws.hello?.detail ?? 'no hello came'}: something between the client and the server swallows frames, or this is not a surewire endpoint.`,
      fixes: [],
    }
  }
  const message =
    ws.status !== undefined
      ? `The WebSocket handshake got ${ws.status}${describeServer(ws.headers)} instead of 101 (a proxy or the app answered it as a plain request).`
      : `The WebSocket handshake failed: ${ws.error}. A proxy that holds upgrades open, or a network that blocks them.`
  return { cause: 'ws_blocked', severity, message, fixes: upgradeFixes(ep.websocket.pathname) }
}

/** Add the most likely cause of the WebSocket failure. */
export function diagnoseWebSocket(run: Run, ws: WsResult, sse: SseResult, sseOk: boolean): void {
  const f = webSocketFinding(run, ws, sse, sseOk)
  if (f) run.findings.push(f)
}

/** A stream that came in a lump, or not at all while the server answered other requests: a buffering proxy. */
function sseBuffered(run: Run, ws: WsResult, sse: SseResult, plain: HttpResult, wsOk: boolean): Finding | undefined {
  const severity = wsOk ? 'warn' : 'error'
  const fixes = bufferingFixes(run.path)
  if (sse.status === 200 && String(sse.headers['content-type'] ?? '').startsWith('text/event-stream') && sse.probe.detail.includes('held back')) {
    return { cause: 'sse_buffered', severity, message: `SSE events arrive in a lump (${sse.eventsInFirstChunk} in the first chunk, hello after ${sse.helloMs} ms): a proxy buffers the stream.`, fixes }
  }
  const answered = plain.status !== undefined || ws.status !== undefined
  const isStream = String(sse.headers['content-type'] ?? '').startsWith('text/event-stream')
  if ((sse.status === undefined && !sse.error && answered) || (sse.status === 200 && isStream && sse.helloMs === undefined && !sse.probe.detail.includes('ended'))) {
    return {
      cause: 'sse_buffered',
      severity,
      message:
        `The SSE request got ${sse.headersMs === undefined ? 'no response at all' : 'its headers but no event'} within ${run.timeoutMs} ms, while the same server answered ` +
        `${ws.status !== undefined ? `the WebSocket handshake in ${ws.probe.ms} ms` : `a plain GET in ${plain.ms} ms`}: a proxy is buffering the stream` +
        `${typeof plain.headers.server === 'string' ? ` (${plain.headers.server})` : ''}. surewire clients report this as \`sse_buffered\` and keep retrying.`,
      fixes,
    }
  }
  return undefined
}

/** Why SSE did not work (called only when it did not). Undefined when an earlier finding already says it. */
function sseFinding(run: Run, ws: WsResult, sse: SseResult, plain: HttpResult, wsOk: boolean): Finding | undefined {
  const { options, path } = run
  const severity = wsOk ? 'warn' : 'error'
  const buffered = sseBuffered(run, ws, sse, plain, wsOk)
  if (buffered) return buffered
  if (sse.status === 404) return { cause: 'sse_path_not_routed', severity, message: `The SSE path ${path} answered 404${describeServer(sse.headers)}: not routed to the realtime server.`, fixes: pathFixes(path) }
  if (sse.status === 401 || sse.status === 403) {
    if (has(run, 'auth_required', 'cors_missing', 'origin_forbidden')) return undefined
    return { cause: sse.status === 403 && options.origin ? 'origin_forbidden' : 'auth_required', severity: 'error', message: `The SSE request was refused with ${sse.status}${options.token ? '' : ': pass --token to probe as a signed-in client'}.`, fixes: [] }
  }
  if (sse.status && sse.status >= 500) {
    if (has(run, 'bad_gateway')) return undefined
    return { cause: 'bad_gateway', severity, message: `The SSE request got ${sse.status}${describeServer(sse.headers)}: the proxy could not reach the backend.`, fixes: [] }
  }
  return {
    cause: sse.status === 200 ? 'not_surewire' : 'sse_failed',
    severity,
    message: `SSE does not work: ${sse.probe.detail}${/text\/html/.test(String(sse.headers['content-type'])) ? ' — an HTML page: probably the app\'s catch-all route answers this path' : ''}.`,
    fixes: sse.status === 200 ? pathFixes(path) : [],
  }
}

/** Add the most likely cause of the SSE failure, unless the path is not routed at all (already said). */
export function diagnoseSse(run: Run, ws: WsResult, sse: SseResult, plain: HttpResult, wsOk: boolean): void {
  if (has(run, 'path_not_routed')) return
  const f = sseFinding(run, ws, sse, plain, wsOk)
  if (f) run.findings.push(f)
}

const RANK = { error: 0, warn: 1, info: 2 } as const
/** WebSocket-only causes: when nothing works, the fallback's problem is the one to name first (SSE must work everywhere). */
const WS_ONLY = new Set<Cause>(['upgrade_headers_dropped', 'ws_blocked', 'ws_no_hello', 'ws_no_pong', 'ws_path_not_routed'])

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
export function buildReport(run: Run, transport: DoctorReport['transport']): DoctorReport {
  const { ep, probes, findings } = run
  findings.sort((a, b) => RANK[a.severity] - RANK[b.severity] || Number(WS_ONLY.has(a.cause)) - Number(WS_ONLY.has(b.cause)))
  const browserBlocked = findings.some((f) => f.severity === 'error' && (f.cause === 'mixed_content' || f.cause === 'cors_missing' || f.cause === 'origin_forbidden'))
  const ok = transport !== null && !browserBlocked
  const worst = findings.find((f) => f.severity !== 'info') ?? null
  return {
    url: run.target,
    endpoints: { websocket: ep.websocket.href, sse: ep.sse.href, post: ep.post.href },
    probes,
    transport,
    ok,
    cause: worst?.cause ?? null,
    verdict: verdictLine(transport, ok, worst),
    findings,
  }
}
