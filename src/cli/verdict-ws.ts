/** Why the WebSocket did not work, from the probe's structured outcome (never from message text). */
import { upgradeFixes, pathFixes } from './fixes'
import { PROXY_NAMES } from './proxies'
import type { Evidence } from './verdict'
import { describeServer } from './probes/util'
import type { Finding, Run } from './types'

const by = (run: Run) => (run.proxy.kind === 'unknown' ? '' : ` (${PROXY_NAMES[run.proxy.kind]})`)

/** An HTTP answer instead of 101: the server said why in a protocol error, or it is not surewire at all. */
function refused(run: Run, ev: Evidence, sseOk: boolean): Finding {
  const { ws, sse } = ev
  const { ep, path } = run
  const severity = sseOk ? 'warn' : 'error'
  const code = ws.serverError?.code
  const fallback = sseOk ? 'Clients fall back to SSE + POST (works, one more hop per message and no WebSocket).' : 'Clients cannot use WebSocket.'
  if (code === 'websocket_unsupported') {
    return { cause: 'ws_not_offered', severity: sseOk ? 'info' : 'error', message: `This endpoint serves SSE + POST only (a platform without WebSocket upgrades, e.g. a route handler). Clients use SSE + POST by design; pass \`transports: ['sse']\` to skip the WebSocket attempt.`, fixes: [] }
  }
  if (code === 'unauthorized') return { cause: 'auth_required', severity: 'error', message: `The server refused the WebSocket as unauthorized${run.options.token ? ' (the token given was not accepted)' : ': pass --token to probe as a signed-in client'}.`, fixes: [] }
  if (code === 'upgrade_headers_dropped' || ws.status === 426 || ws.status === 400) {
    // The server said so (C2), or an older one: 426 on the same path whose SSE said a surewire hello.
    const surewire = code === 'upgrade_headers_dropped' || (ws.status === 426 && sse.sid !== undefined)
    return {
      cause: 'upgrade_headers_dropped',
      severity,
      message:
        (surewire ? `The WebSocket handshake reached the surewire server without its Upgrade header (it answered ${ws.status}${code ? ` ${code}` : ''})` : `The WebSocket handshake was refused with ${ws.status}${describeServer(ws.headers)}`) +
        `: a proxy in front${by(run)} does not forward \`Upgrade\`/\`Connection\`` +
        (surewire ? '. ' : ", or the server on this path takes no WebSocket upgrades at all (then pass `transports: ['sse']` to clients). ") +
        fallback,
      fixes: upgradeFixes(run.proxy.kind, ep.websocket.pathname),
    }
  }
  if (ws.status === 404 && sse.status === 404) {
    return {
      cause: 'path_not_routed',
      severity: 'error',
      message: `${ep.websocket.pathname} answered 404${describeServer(ws.headers)} for both WebSocket and SSE: nothing serves this path. The proxy's location does not match it (a path-prefix mistake), or the client's URL points at the wrong path.`,
      fixes: pathFixes(run.proxy.kind, path),
    }
  }
  if (ws.status === 404) return { cause: 'ws_path_not_routed', severity, message: `The WebSocket path ${ep.websocket.pathname} answered 404${describeServer(ws.headers)}: it is not routed to the realtime server.`, fixes: pathFixes(run.proxy.kind, ep.websocket.pathname) }
  if (ws.status !== undefined && ws.status >= 500) {
    return { cause: 'bad_gateway', severity, message: `The WebSocket handshake got ${ws.status}${describeServer(ws.headers)}: the proxy could not reach the backend (down, wrong upstream port, or it closed the upgraded connection).`, fixes: [] }
  }
  // Any other status without a protocol error: not a surewire refusal (C2: the server never
  // refuses an upgrade with a status for auth or origin), so clients treat it as a refused upgrade.
  return {
    cause: 'ws_refused',
    severity,
    message:
      `The WebSocket upgrade was answered ${ws.status}${describeServer(ws.headers)} with no surewire error in the body: something in front${by(run)} refuses upgrades on this path ` +
      `(an app without a WebSocket route answers 403, as uvicorn / Starlette do). This is not an auth failure. ${fallback}`,
    fixes: upgradeFixes(run.proxy.kind, ep.websocket.pathname),
  }
}

/** Upgraded (101) but no working session: an error frame, silence, or not surewire. */
function upgradedButBroken(run: Run, ev: Evidence, severity: Finding['severity']): Finding {
  const { ws } = ev
  const err = ws.serverError
  if (ws.outcome === 'error_frame' && err?.code === 'unauthorized') {
    return { cause: 'auth_required', severity: 'error', message: `The server refused the WebSocket as unauthorized (error frame, close ${ws.closeCode ?? 4401})${run.options.token ? '' : ': pass --token to probe as a signed-in client'}.`, fixes: [] }
  }
  const cause = ws.outcome === 'not_hello' ? 'not_surewire' : ws.outcome === 'no_pong' ? 'ws_no_pong' : 'ws_no_hello'
  const what = ws.outcome === 'error_frame' ? `the server sent an error frame (${err?.code}${err?.fatal ? ', fatal' : ''})` : ws.hello?.detail ?? 'no hello came'
  return { cause, severity, message: `The WebSocket upgraded (101) but ${what}: something between the client and the server swallows frames, or this is not a surewire endpoint.`, fixes: [] }
}

/** The most likely cause of the WebSocket failure (called only when it did not work and the Origin did not explain it). */
export function webSocketFinding(run: Run, ev: Evidence, sseOk: boolean): Finding {
  const { ws } = ev
  const severity = sseOk ? 'warn' : 'error'
  if (ws.outcome === 'refused') return refused(run, ev, sseOk)
  if (ws.outcome === 'failed' || ws.outcome === 'timeout') {
    const message = `The WebSocket handshake failed: ${ws.error}. A proxy that holds upgrades open, or a network that blocks them.`
    return { cause: 'ws_blocked', severity, message, fixes: upgradeFixes(run.proxy.kind, run.ep.websocket.pathname) }
  }
  return upgradedButBroken(run, ev, severity)
}
