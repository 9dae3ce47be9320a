import { CloseCode, FrameError, PROTOCOL_VERSION, QUERY, parseServerFrame, type ClientFrame, type ErrorFrame } from '../protocol'
import type { Transport, TransportHandlers, TransportParams } from './transport'
import { withQuery } from './url'

/** A handler slot, checked bivariantly so `ws`'s and the DOM's narrower event types are accepted without a cast. */
type HandlerSlot<E> = { bivarianceHack(ev: E): void }['bivarianceHack'] | null

/** The subset of the WHATWG WebSocket the client uses (browser, Node ≥ 22, Deno, Bun, or `ws`). */
export interface WebSocketLike {
  readonly readyState: number
  binaryType: string
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: HandlerSlot<unknown>
  onmessage: HandlerSlot<{ data: unknown }>
  onerror: HandlerSlot<unknown>
  onclose: HandlerSlot<{ code: number; reason: string }>
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike

/** The part of a Node `http.IncomingMessage` read from a refused `ws` handshake. */
interface RefusalResponse {
  statusCode?: number
}
/** `ws`'s WebSocket is also an EventEmitter; it reports a refused handshake (non-101) with the response. */
interface NodeWebSocketEvents {
  once(event: 'unexpected-response', listener: (req: unknown, res: RefusalResponse) => void): unknown
}
const hasNodeEvents = (ws: unknown): ws is NodeWebSocketEvents => typeof (ws as { once?: unknown }).once === 'function'

function errorText(ev: unknown): string {
  const msg = (ev as { message?: unknown })?.message ?? (ev as { error?: { message?: unknown } })?.error?.message
  return typeof msg === 'string' ? msg.slice(0, 200) : 'WebSocket error'
}

/** Open a WebSocket transport. Frames are JSON text; a binary frame is a bad frame. */
export function openWebSocket(
  WS: WebSocketConstructor,
  url: URL | string,
  params: TransportParams,
  h: TransportHandlers,
): Transport {
  const href = withQuery(url, {
    [QUERY.version]: PROTOCOL_VERSION,
    [QUERY.session]: params.sid,
    [QUERY.lastId]: params.sid ? params.lastId : undefined,
    [QUERY.token]: params.token,
  })
  return new WebSocketTransport(new WS(href), h)
}

/** A class rather than an object of closures: one connection's state in one object (it adds up over many clients). */
class WebSocketTransport implements Transport {
  readonly kind = 'websocket'
  readonly #ws: WebSocketLike
  #done = false
  #opened = false
  #status: number | undefined
  #lastError = ''
  /** The last `error` frame: why the server is about to close. */
  #serverError: ErrorFrame | undefined

  constructor(ws: WebSocketLike, h: TransportHandlers) {
    this.#ws = ws
    ws.binaryType = 'arraybuffer'
    // `ws` (Node) shows the status of a refused handshake through this event; taking it means `ws`
    // leaves the handshake to us, so abort it (which reports error + close 1006 as usual).
    if (hasNodeEvents(ws)) {
      ws.once('unexpected-response', (_req, res) => {
        this.#status = typeof res?.statusCode === 'number' ? res.statusCode : 0
        this.#lastError = `handshake answered HTTP ${this.#status}`
        ws.close()
      })
    }
    ws.onopen = () => {
      ws.onopen = null // fires once; dropping it frees the handler (and the wrapper `ws` keeps for it)
      if (this.#done) return
      this.#opened = true
      h.onOpen()
    }
    ws.onmessage = (ev) => {
      if (this.#done) return
      if (typeof ev.data !== 'string') {
        h.onBadFrame(new FrameError('binary frames are not part of the protocol', ''))
        return
      }
      let frame
      try {
        frame = parseServerFrame(ev.data)
      } catch (err) {
        h.onBadFrame(err as FrameError)
        return
      }
      if (frame.t === 'error') this.#serverError = frame
      h.onFrame(frame)
    }
    ws.onerror = (ev) => {
      if (this.#status === undefined) this.#lastError = errorText(ev)
    }
    ws.onclose = (ev) => {
      if (this.#done) return
      this.#done = true
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null
      const cause = this.#status !== undefined ? 'refused' : ev.code === CloseCode.abnormal ? 'network' : 'closed'
      const why = this.#serverError ? { serverCode: this.#serverError.code, serverMessage: this.#serverError.message } : {}
      h.onClose({ opened: this.#opened, cause, code: ev.code, status: this.#status, ...why, detail: ev.reason || this.#lastError || `closed with code ${ev.code}` })
    }
  }

  send(frames: ClientFrame[]): void {
    if (this.#done || this.#ws.readyState !== 1) return
    for (const f of frames) this.#ws.send(JSON.stringify(f))
  }

  close(bye = false): void {
    if (this.#done) return
    this.#done = true
    const ws = this.#ws
    ws.onopen = ws.onmessage = ws.onclose = null
    ws.onerror = () => {} // a close during CONNECTING fires error in some runtimes
    try {
      if (bye && ws.readyState === 1) ws.send(JSON.stringify({ t: 'bye' }))
      ws.close(1000, bye ? 'client closed' : 'replaced')
    } catch {
      /* already closing */
    }
  }
}
