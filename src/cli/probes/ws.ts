/** The WebSocket probe: the raw handshake (status line, Server header), then surewire hello + ping → pong. */
import type http from 'node:http'
import { WebSocket } from 'ws'
import { PROTOCOL_VERSION, QUERY } from '../../protocol'
import { withQuery } from '../../client/url'
import type { Probe, Run } from '../types'
import { captureBody, describeServer, now, round } from './util'

export interface WsResult {
  probe: Probe
  hello?: Probe
  status?: number
  headers: http.IncomingHttpHeaders
  body: string
  error?: string
  sid?: string
  hb?: number
  /** The socket, still open, when hello + pong worked (for the idle probe). */
  socket?: WebSocket
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
  readonly result: WsResult = { probe: { name: 'websocket', ok: false, detail: '' }, headers: {}, body: '' }
  private readonly t0 = now()
  private readonly ws: WebSocket
  private readonly timer: ReturnType<typeof setTimeout>
  private settled = false
  private upgradedAt: number | undefined
  private helloAt: number | undefined
  private pingAt = 0

  constructor(
    url: string,
    headers: Record<string, string>,
    private readonly timeoutMs: number,
    private readonly resolve: (r: WsResult) => void,
  ) {
    const ws = (this.ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs, perMessageDeflate: false, followRedirects: false }))
    ws.on('error', (err) => this.onError(err))
    ws.on('upgrade', (res) => this.onUpgrade(res))
    ws.on('unexpected-response', (req, res) => this.onUnexpectedResponse(req, res))
    ws.on('message', (data, binary) => this.onMessage(data, binary))
    ws.on('close', (code, reason) => this.onClose(code, reason))
    this.timer = setTimeout(() => this.onTimeout(), timeoutMs + 50)
  }

  private settle(keepOpen = false): void {
    if (this.settled) return
    this.settled = true
    clearTimeout(this.timer)
    if (keepOpen) this.result.socket = this.ws
    else this.ws.terminate()
    this.resolve(this.result)
  }

  private onError(err: Error): void {
    if (this.upgradedAt === undefined && this.result.status === undefined) {
      this.result.error = err.message
      this.result.probe = { name: 'websocket', ok: false, ms: round(now() - this.t0), detail: `handshake failed: ${err.message}` }
    }
    this.settle()
  }

  private onUpgrade(res: http.IncomingMessage): void {
    this.upgradedAt = now()
    this.result.status = res.statusCode
    this.result.headers = res.headers
    this.result.probe = { name: 'websocket', ok: true, ms: round(this.upgradedAt - this.t0), detail: `101 Switching Protocols${describeServer(res.headers)}` }
  }

  /** Anything but 101: keep the status, Server header and the start of the body (diagnosis reads it). */
  private onUnexpectedResponse(req: http.ClientRequest, res: http.IncomingMessage): void {
    const { result } = this
    result.status = res.statusCode
    result.headers = res.headers
    const ms = round(now() - this.t0)
    captureBody(res, result)
    const end = () => {
      result.probe = {
        name: 'websocket',
        ok: false,
        ms,
        detail: `${res.statusCode} ${res.statusMessage ?? ''}${describeServer(res.headers)} instead of 101`.replace('  ', ' '),
      }
      req.on('error', () => {})
      req.destroy()
      this.settle()
    }
    res.on('end', end)
    res.on('error', end)
  }

  private onMessage(data: WebSocket.RawData, binary: boolean): void {
    const f = parseFrame(data, binary)
    if (this.helloAt === undefined) return this.onFirstMessage(f, data)
    if (f?.t === 'pong') {
      const rtt = round(now() - this.pingAt)
      this.result.hello = { name: 'ws-hello', ok: true, detail: `hello after ${round(this.helloAt - (this.upgradedAt ?? this.t0))} ms (hb ${this.result.hb} ms), ping → pong ${rtt} ms` }
      this.settle(true)
    }
  }

  /** It must be a surewire hello; then ping. */
  private onFirstMessage(f: Frame, data: WebSocket.RawData): void {
    const helloAt = (this.helloAt = now())
    if (f?.t !== 'hello' || typeof f.sid !== 'string') {
      this.result.hello = { name: 'ws-hello', ok: false, ms: round(helloAt - (this.upgradedAt ?? this.t0)), detail: `first message is not a surewire hello: ${data.toString().slice(0, 120)}` }
      return this.settle()
    }
    this.result.sid = f.sid
    this.result.hb = typeof f.hb === 'number' ? f.hb : undefined
    this.pingAt = now()
    this.ws.send(JSON.stringify({ t: 'ping', n: 1 }))
  }

  private onClose(code: number, reason: Buffer): void {
    if (this.upgradedAt !== undefined && !this.result.hello) {
      this.result.hello = { name: 'ws-hello', ok: false, detail: `closed with ${code} ${reason.toString()} before ${this.helloAt ? 'the pong' : 'a hello'}` }
    }
    this.settle()
  }

  private onTimeout(): void {
    const { result, timeoutMs } = this
    if (this.upgradedAt !== undefined) {
      result.hello = { name: 'ws-hello', ok: false, detail: this.helloAt ? `hello, but no pong within ${timeoutMs} ms` : `101, but no hello within ${timeoutMs} ms` }
    } else if (result.status === undefined && !result.error) {
      result.error = `no handshake response within ${timeoutMs} ms`
      result.probe = { name: 'websocket', ok: false, ms: timeoutMs, detail: `no handshake response within ${timeoutMs} ms` }
    }
    this.settle()
  }
}

/**
 * Probe the WebSocket endpoint the way clients connect (token in the query). The socket stays
 * open only for the idle probe; otherwise the session is ended with a bye.
 */
export async function probeWebSocket(run: Run): Promise<WsResult> {
  const { ep, options } = run
  const url = withQuery(ep.websocket, { [QUERY.version]: PROTOCOL_VERSION, [QUERY.token]: options.token })
  const ws = await new Promise<WsResult>((resolve) => new WsAttempt(url, run.common, run.timeoutMs, resolve))
  run.probes.push({ ...ws.probe, detail: `GET ${ep.websocket.pathname} (Upgrade: websocket) → ${ws.probe.detail}` })
  run.probes.push(ws.hello ?? { name: 'ws-hello', ok: null, detail: 'skipped: no WebSocket' })
  if (ws.sid && ws.socket && !options.idleMs) {
    ws.socket.send(JSON.stringify({ t: 'bye' }))
    ws.socket.close(1000, 'doctor done')
  }
  return ws
}
