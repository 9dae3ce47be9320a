/** The idle probe: hold the WebSocket and the SSE stream quiet to find a proxy's read timeout. */
import { CloseCode } from '../../protocol'
import { idleFixes } from '../fixes'
import { PROXY_NAMES, type ProxyKind } from '../proxies'
import type { Run } from '../types'
import type { SseEnd, SseResult } from './sse'
import { closeWebSocket, type WsResult } from './ws'
import { now, round } from './util'

/** How the idle WebSocket ended: after how long quiet, and its close code (1006: no close frame, the connection was just cut). */
interface WsEnd {
  afterMs: number
  code: number
}

/**
 * How the socket ended: `afterMs` quiet since its last message (normally the pong: the other probes
 * run in between, and a proxy's idle timer started then), or undefined when it outlived `idleMs`.
 */
function wsCutAfter(ws: WsResult, idleMs: number): Promise<WsEnd | undefined> {
  return new Promise((resolve) => {
    const sock = ws.socket
    if (!sock) return resolve(undefined)
    const t0 = now()
    const quiet = () => ({ afterMs: round((ws.closedAt ?? now()) - (ws.quietSince ?? t0)), code: ws.closeCode ?? 1006 })
    // Cut already, while the other probes ran: that is the answer (waiting for a 'close' would report it open).
    if (ws.closedAt !== undefined) return resolve(quiet())
    const timer = setTimeout(() => resolve(undefined), idleMs)
    sock.once('close', () => (clearTimeout(timer), resolve(quiet())))
  })
}

/** How the idle stream ended, or undefined when it outlived `idleMs`. */
function sseCutAfter(sse: SseResult, idleMs: number): Promise<SseEnd | undefined> {
  return new Promise((resolve) => {
    if (!sse.ended) return resolve(undefined)
    const timer = setTimeout(() => resolve(undefined), idleMs)
    void sse.ended.then((v) => (clearTimeout(timer), resolve(v)))
  })
}


/** Without --idle just close the SSE stream; with it, hold both connections and report a cut. */
export async function probeIdle(run: Run, ws: WsResult, sse: SseResult): Promise<void> {
  const idleMs = run.options.idleMs
  if (!idleMs) {
    run.probes.push({ name: 'idle', ok: null, detail: 'skipped: pass --idle 70s to find a proxy idle timeout' })
    sse.close?.()
    return
  }
  const [wsEnd, sseAfter] = await Promise.all([wsCutAfter(ws, idleMs), sseCutAfter(sse, idleMs)])
  closeWebSocket(ws)
  sse.close?.()
  // A close frame means the server said why (4408: its own verdict on a client that never pings, at
  // 3 × hb; 1001: it is going away): not a proxy cut. A proxy's idle timeout just drops the connection.
  const wsCut = wsEnd?.code === 1006 ? wsEnd.afterMs : undefined
  const parts = [
    !ws.socket ? 'no WebSocket to hold' : !wsEnd ? `idle WebSocket still open after ${idleMs} ms` : wsCut !== undefined ? `idle WebSocket cut after ${wsCut} ms` : `idle WebSocket closed by the server after ${wsEnd.afterMs} ms (close ${wsEnd.code}${wsEnd.code === CloseCode.idleTimeout ? ': no ping from this probe; clients ping at least every hb' : ''})`,
    sse.ended ? (sseAfter === undefined ? `SSE still open after ${idleMs} ms` : `SSE cut after ${sseAfter.afterMs} ms`) : 'no SSE stream to hold',
  ]
  const cut = wsCut ?? sseAfter?.afterMs
  run.probes.push({ name: 'idle', ok: cut === undefined, ms: cut, detail: parts.join('; ') })
  if (cut !== undefined) addIdleFinding(run, cut, ws.hb ?? sse.hb)
}

/** The setting that cuts quiet connections, in each proxy's words. */
const IDLE_SETTING: Record<ProxyKind, string> = {
  nginx: 'nginx: proxy_read_timeout',
  apache: 'Apache: ProxyTimeout / Timeout, or timeout= on ProxyPass',
  haproxy: 'HAProxy: timeout tunnel for WebSocket, else timeout client / timeout server',
  caddy: 'Caddy: stream_timeout',
  traefik: 'Traefik: respondingTimeouts',
  envoy: 'Envoy: the route timeout / idle_timeout',
  nextjs: 'Next.js: its proxy timeout',
  uvicorn: 'uvicorn: --timeout-keep-alive',
  unknown: 'nginx: proxy_read_timeout; HAProxy: timeout tunnel / timeout client; Apache: ProxyTimeout',
}

/** A cut is harmless when the server's heartbeat (`hb`) keeps connections busier than the proxy's timeout. */
function addIdleFinding(run: Run, cut: number, hb: number | undefined): void {
  const keptAlive = hb !== undefined && hb < cut * 0.8
  run.findings.push({
    cause: 'proxy_idle_timeout',
    severity: keptAlive ? 'info' : 'warn',
    message:
      `${run.proxy.kind === 'unknown' ? 'A proxy' : PROXY_NAMES[run.proxy.kind]} closes connections that are quiet for about ${(cut / 1000).toFixed(1)} s (${IDLE_SETTING[run.proxy.kind]}). ` +
      (keptAlive
        ? `The server's heartbeat (${hb} ms; clients ping at least that often) stays under it, so surewire connections stay up.`
        : `The server's heartbeat is ${hb ?? '?'} ms, so clients will be cut and reconnect about every ${(cut / 1000).toFixed(0)} s: raise the proxy timeout or lower heartbeatIntervalMs.`),
    fixes: keptAlive ? [] : idleFixes(run.proxy.kind, run.path, cut),
  })
}
