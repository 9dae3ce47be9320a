/** The WebSocket probe: the raw handshake (status line, Server header), then surewire hello + ping → pong. */
import type http from 'node:http'
import { WebSocket } from 'ws'
import { PROTOCOL_VERSION, QUERY } from '../../protocol'
import { withQuery } from '../../client/url'
import type { Probe, Run } from '../types'
import { captureBody, describeServer, now, protocolError, round, type ServerError } from './util'

/**
 * How the attempt ended, as data (the verdict switches on this, never on `detail`):
 * - `pong`: 101, hello, ping → pong: WebSocket works.
 * - `refused`: an HTTP answer other than 101 (`status`, `serverError` when the body was a protocol error).
 * - `failed`: no HTTP answer (network error, `error` set); `timeout`: no handshake answer in time.
 * - `error_frame`: 101, then the server sent an error frame (`serverError`, `closeCode`).
 * - `not_hello`: 101, but the first message is not a surewire hello.
 * - `closed`: 101, closed before hello / pong (`closeCode`); `no_hello` / `no_pong`: silence.
 */
export type WsOutcome = 'pong' | 'refused' | 'failed' | 'timeout' | 'error_frame' | 'not_hello' | 'closed' | 'no_hello' | 'no_pong'

export interface WsResult {
  outcome: WsOutcome
  probe: Probe
  hello?: Probe
  status?: number
  headers: http.IncomingHttpHeaders
  rawHeaders?: string[]
  body: string
  serverError?: ServerError
  closeCode?: number
  error?: string
  sid?: string
  hb?: number
  /** The socket, still open, when hello + pong worked (for the idle probe). */
  socket?: WebSocket
  /** When the socket last carried a message (`now()` clock): a proxy's idle timer runs from there, not from when the idle probe starts. */
  quietSince?: number
  /** When the socket closed, if it did (a proxy may cut it while the other probes run). */
  closedAt?: number
}

type Frame = { t?: unknown; sid?: unknown; hb?: unknown } | undefined

function parseFrame(data: WebSocket.RawData, binary: boolean): Frame {
  try {
    return binary ? undefined : (JSON.parse(data.toString()) as Frame)
  } catch {
    return undefined
  }
}

/** One handshake → hello → ping → pong attempt; resolves once with what it learned. */
class WsAttempt {
  readonly result: WsResult = { outcome: 'timeout', probe: { name: 'websocket', ok: false, detail: '' }, headers: {}, body: '' }
  private readonly t0 = now()
  private readonly ws: WebSocket
  private readonly timer: ReturnType<typeof setTimeout>
  private settled = false
  private upgradedAt: number | undefined
  private helloAt: number | undefined
  private pingAt = 0

  constructor(
    url: string,
    options: WebSocket.ClientOptions,
    private readonly timeoutMs: number,
    private readonly resolve: (r: WsResult) => void,
  ) {
    const ws = (this.ws = new WebSocket(url, { ...options, handshakeTimeout: timeoutMs, perMessageDeflate: false, followRedirects: false }))
    ws.on('error', (err) => this.onError(err))
    ws.on('upgrade', (res) => this.onUpgrade(res))
    ws.on('unexpected-response', (req, res) => this.onUnexpectedResponse(req, res))
    ws.on('message', (data, binary) => this.onMessage(data, binary))
    ws.on('close', (code, reason) => this.onClose(code, reason))
    this.timer = setTimeout(() => this.onTimeout(), timeoutMs + 50)
  }

  private settle(outcome: WsOutcome, keepOpen = false): void {
    if (this.settled) return
    this.settled = true
    this.result.outcome = outcome
    clearTimeout(this.timer)
    if (keepOpen) this.result.socket = this.ws
    else this.ws.terminate()
    this.resolve(this.result)
  }

  private onError(err: Error): void {
    if (this.upgradedAt === undefined && this.result.status === undefined) {
      this.result.error = err.message
      this.result.probe = { name: 'websocket', ok: false, ms: round(now() - this.t0), detail: `handshake failed: ${err.message}` }
      return this.settle('failed')
    }
    this.settle(this.upgradedAt === undefined ? 'refused' : 'closed')
  }

  private onUpgrade(res: http.IncomingMessage): void {
    this.upgradedAt = now()
    this.result.status = res.statusCode
    this.result.headers = res.headers
    this.result.rawHeaders = res.rawHeaders
    this.result.probe = { name: 'websocket', ok: true, ms: round(this.upgradedAt - this.t0), detail: `101 Switching Protocols${describeServer(res.headers)}` }
  }

  /** Anything but 101: keep the status, headers and the start of the body (a protocol error, if it is one). */
  private onUnexpectedResponse(req: http.ClientRequest, res: http.IncomingMessage): void {
    const { result } = this
    result.status = res.statusCode
    result.headers = res.headers
    result.rawHeaders = res.rawHeaders
    const ms = round(now() - this.t0)
    captureBody(res, result)
    const end = () => {
      result.serverError = protocolError(result.body)
      const code = result.serverError ? ` (${result.serverError.code})` : ''
      result.probe = { name: 'websocket', ok: false, ms, detail: `${res.statusCode} ${res.statusMessage ?? ''}${code}${describeServer(res.headers)} instead of 101`.replace('  ', ' ') }
      req.on('error', () => {})
      req.destroy()
      this.settle('refused')
    }
    res.on('end', end)
    res.on('error', end)
  }

  private onMessage(data: WebSocket.RawData, binary: boolean): void {
    this.result.quietSince = now()
    if (this.settled) return
    const f = parseFrame(data, binary)
    const err = binary ? undefined : protocolError(data.toString())
    if (err) {
      this.result.serverError = err
      this.result.hello = { name: 'ws-hello', ok: false, ms: round(now() - (this.upgradedAt ?? this.t0)), detail: `error frame ${err.code}${err.fatal ? ' (fatal)' : ''}${err.message ? `: ${err.message}` : ''}` }
      return this.settle('error_frame')
    }
    if (this.helloAt === undefined) return this.onFirstMessage(f, data)
    if (f?.t === 'pong') {
      const rtt = round(now() - this.pingAt)
      this.result.hello = { name: 'ws-hello', ok: true, detail: `hello after ${round(this.helloAt - (this.upgradedAt ?? this.t0))} ms (hb ${this.result.hb} ms), ping → pong ${rtt} ms` }
      this.settle('pong', true)
    }
  }

  /** It must be a surewire hello; then ping. */
  private onFirstMessage(f: Frame, data: WebSocket.RawData): void {
    const helloAt = (this.helloAt = now())
    if (f?.t !== 'hello' || typeof f.sid !== 'string') {
      this.result.hello = { name: 'ws-hello', ok: false, ms: round(helloAt - (this.upgradedAt ?? this.t0)), detail: `first message is not a surewire hello: ${data.toString().slice(0, 120)}` }
      return this.settle('not_hello')
    }
    this.result.sid = f.sid
    this.result.hb = typeof f.hb === 'number' ? f.hb : undefined
    this.pingAt = now()
    this.ws.send(JSON.stringify({ t: 'ping', n: 1 }))
  }

  private onClose(code: number, reason: Buffer): void {
    this.result.closedAt = now()
    this.result.closeCode = code
    if (this.upgradedAt !== undefined && !this.result.hello) {
      this.result.hello = { name: 'ws-hello', ok: false, detail: `closed with ${code} ${reason.toString()} before ${this.helloAt ? 'the pong' : 'a hello'}` }
    }
    this.settle(this.upgradedAt === undefined ? 'failed' : 'closed')
  }

  private onTimeout(): void {
    const { result, timeoutMs } = this
    if (this.upgradedAt !== undefined) {
      result.hello = { name: 'ws-hello', ok: false, detail: this.helloAt ? `hello, but no pong within ${timeoutMs} ms` : `101, but no hello within ${timeoutMs} ms` }
      return this.settle(this.helloAt ? 'no_pong' : 'no_hello')
    }
    result.error = `no handshake response within ${timeoutMs} ms`
    result.probe = { name: 'websocket', ok: false, ms: timeoutMs, detail: `no handshake response within ${timeoutMs} ms` }
    this.settle('timeout')
  }
}

/** One attempt with the given headers (the origin check repeats it without `Origin`). */
export async function attemptWebSocket(run: Run, headers: Record<string, string>): Promise<WsResult> {
  const { ep, options } = run
  const url = withQuery(ep.websocket, { [QUERY.version]: PROTOCOL_VERSION, [QUERY.token]: options.token })
  let via
  try {
    via = await run.dial.webSocket(ep.websocket)
  } catch (err) {
    const detail = `handshake failed: ${(err as Error).message}`
    return { outcome: 'failed', probe: { name: 'websocket', ok: false, detail }, headers: {}, body: '', error: (err as Error).message }
  }
  return new Promise<WsResult>((resolve) => new WsAttempt(url, { headers, ...via }, run.timeoutMs, resolve))
}

/** Say bye and close (the session ends at once rather than expiring). */
export function closeWebSocket(ws: WsResult): void {
  if (!ws.socket) return
  ws.socket.removeAllListeners('close')
  ws.socket.on('error', () => {})
  if (ws.socket.readyState === WebSocket.OPEN) {
    ws.socket.send(JSON.stringify({ t: 'bye' }))
    ws.socket.close(1000, 'doctor done')
  } else ws.socket.terminate()
}

/**
 * Probe the WebSocket endpoint the way browsers connect (token in the query, `Origin` as the
 * page sends it). The socket stays open only for the idle probe.
 */
export async function probeWebSocket(run: Run): Promise<WsResult> {
  const ws = await attemptWebSocket(run, run.headers.ws)
  if (ws.status !== undefined) run.seen.push(ws)
  run.probes.push({ ...ws.probe, detail: `GET ${run.ep.websocket.pathname} (Upgrade: websocket${run.headers.ws.Origin ? `, Origin ${run.headers.ws.Origin}` : ''}) → ${ws.probe.detail}` })
  run.probes.push(ws.hello ?? { name: 'ws-hello', ok: null, detail: 'skipped: no WebSocket' })
  if (ws.outcome === 'pong' && !run.options.idleMs) closeWebSocket(ws)
  return ws
}
