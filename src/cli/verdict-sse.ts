/** Why SSE + POST did not work, from the probes' structured outcomes (never from message text). */
import { bufferingFixes, pathFixes, stickyFixes } from './fixes'
import { PROXY_NAMES } from './proxies'
import { describeServer } from './probes/util'
import type { Evidence } from './verdict'
import type { Finding, Run } from './types'

const isStream = (h: Evidence['sse']['headers']) => String(h['content-type'] ?? '').startsWith('text/event-stream')

/** A stream that came in a lump, or not at all while the server answered other requests: a buffering proxy. */
function sseBuffered(run: Run, ev: Evidence, wsOk: boolean): Finding | undefined {
  const { sse, ws, plain } = ev
  const severity = wsOk ? 'warn' : 'error'
  const fixes = bufferingFixes(run.proxy.kind, run.path)
  const compressed = sse.encoding ? ` The stream is ${sse.encoding}-compressed: a compressing proxy that does not flush per event holds it back.` : ''
  if (sse.outcome === 'held_back') {
    return { cause: 'sse_buffered', severity, message: `SSE events arrive in a lump (${sse.eventsInFirstChunk} in the first chunk, hello after ${sse.helloMs} ms): a proxy buffers the stream.${compressed}`, fixes }
  }
  const answered = plain.status !== undefined || ws.status !== undefined
  if ((sse.outcome === 'no_headers' && answered) || (sse.outcome === 'no_event' && isStream(sse.headers))) {
    return {
      cause: 'sse_buffered',
      severity,
      message:
        `The SSE request got ${sse.headersMs === undefined ? 'no response at all' : 'its headers but no event'} within ${run.timeoutMs} ms, while the same server answered ` +
        `${ws.status !== undefined ? `the WebSocket handshake in ${ws.probe.ms} ms` : `a plain GET in ${plain.ms} ms`}: a proxy is buffering the stream` +
        `${run.proxy.kind === 'unknown' ? '' : ` (${PROXY_NAMES[run.proxy.kind]})`}. surewire clients report this as \`sse_buffered\` and keep retrying.${compressed}`,
      fixes,
    }
  }
  return undefined
}

/** Why the SSE GET did not work. Undefined when an earlier finding already says it. */
export function sseFinding(run: Run, ev: Evidence, wsOk: boolean, has: (...c: Finding['cause'][]) => boolean): Finding | undefined {
  const { sse } = ev
  const { path } = run
  const severity = wsOk ? 'warn' : 'error'
  const buffered = sseBuffered(run, ev, wsOk)
  if (buffered) return buffered
  if (sse.status === 404) return { cause: 'sse_path_not_routed', severity, message: `The SSE path ${path} answered 404${describeServer(sse.headers)}: not routed to the realtime server.`, fixes: pathFixes(run.proxy.kind, path) }
  if (sse.status === 401 || sse.status === 403 || sse.serverError?.code === 'unauthorized') {
    if (has('auth_required', 'cors_missing', 'origin_forbidden', 'host_rewritten')) return undefined
    const auth = sse.status === 401 || sse.serverError?.code === 'unauthorized'
    return {
      cause: auth ? 'auth_required' : run.crossOrigin ? 'origin_forbidden' : 'sse_failed',
      severity: 'error',
      message: `The SSE request was refused with ${sse.status}${sse.serverError ? ` (${sse.serverError.code})` : ''}${auth && !run.options.token ? ': pass --token to probe as a signed-in client' : ''}.`,
      fixes: [],
    }
  }
  if (sse.status !== undefined && sse.status >= 500) {
    if (has('bad_gateway')) return undefined
    return { cause: 'bad_gateway', severity, message: `The SSE request got ${sse.status}${describeServer(sse.headers)}: the proxy could not reach the backend.`, fixes: [] }
  }
  const html = /text\/html/.test(String(sse.headers['content-type']))
  return {
    cause: sse.status === 200 ? 'not_surewire' : 'sse_failed',
    severity,
    message: `SSE does not work: ${sse.probe.detail}${html ? " — an HTML page: probably the app's catch-all route answers this path" : ''}.`,
    fixes: sse.status === 200 ? pathFixes(run.proxy.kind, path) : [],
  }
}

/** The stream works but POSTs do not: another process without the session, or a refused POST. */
export function postFinding(run: Run, ev: Evidence, wsOk: boolean): Finding | undefined {
  const { post } = ev
  if (post.outcome === 'pong' || post.outcome === 'skipped' || post.originRefused || post.serverError?.code === 'origin_not_allowed') return undefined
  const severity = wsOk ? 'warn' : 'error'
  if (post.sessionUnknown) {
    return {
      cause: 'session_unknown',
      severity,
      message:
        `SSE + POST will fail: POST number ${post.sent} for the session the SSE probe had just opened was answered 404 session_unknown. ` +
        `The requests of one session reach different server processes that do not share sessions (a load balancer over several processes, no shared broker).` +
        (wsOk ? ' WebSocket works (one connection carries both directions), but clients that fall back to SSE cannot send.' : ''),
      fixes: stickyFixes(run.proxy.kind),
    }
  }
  return {
    cause: 'post_failed',
    severity,
    message: `A POST to ${run.ep.post.pathname} with a valid session did not get a pong (${post.status ?? 'no answer'}${post.serverError ? ` ${post.serverError.code}` : ''}). SSE clients cannot send.`,
    fixes: post.status === 404 ? pathFixes(run.proxy.kind, run.ep.post.pathname) : [],
  }
}

/** The stream is compressed: say so, and whether events still came live. */
export function compressionFinding(run: Run, ev: Evidence): Finding | undefined {
  const { sse } = ev
  if (!sse.encoding || sse.outcome !== 'live') return undefined
  return {
    cause: 'sse_compressed',
    severity: 'info',
    message: `The SSE stream comes ${sse.encoding}-compressed${run.proxy.kind === 'unknown' ? '' : ` by ${PROXY_NAMES[run.proxy.kind]}`} (browsers ask for it too), and events still arrive live (hello after ${sse.helloMs} ms): each one is flushed. A compressing proxy that buffers is a common way SSE dies; if events ever lag, turn compression off for text/event-stream.`,
    fixes: [],
  }
}
