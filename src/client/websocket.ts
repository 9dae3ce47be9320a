import { SurewireError, errorText } from '../errors'
import { utf8Length, type ClientFrame, type CloseCode, type ErrorFrame, type HelloFrame, type SequencedClientFrame, type ServerFrame } from '../protocol'
import type { Codec } from './codec'
import { noop } from './outbox'
import { Reporter } from './report'
import type { Transport, TransportHandlers } from './transport'

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

/** RFC 6455's reserved 1006: never in a close frame; runtimes report a connection that dropped without one this way. */
const ABNORMAL_CLOSURE = 1006

/**
 * `ws`'s WebSocket is also an EventEmitter and reports a refused handshake (an HTTP answer other
 * than 101) with the response (a Node `http.IncomingMessage`). WHATWG WebSockets (browsers,
 * Node ≥ 22, Bun, Deno) show no status.
 */
interface NodeWebSocketEvents {
  once?(event: 'unexpected-response', listener: (req: unknown, res: { statusCode?: number } | undefined) => void): unknown
}

/** Where the server's frame limit is read (a method, so the transport keeps no closure of its own). */
export interface FrameLimit {
  /** The server's frame limit from its hello (Infinity before one arrived). */
  maxFrameBytes(): number
}

/**
 * Batched writing (contract B1, on a connection whose hello said `batch: true`): after a frame was
 * written at once, the frames that follow in the same tick are held and written together as one
 * JSON array message once this many microtask turns in a row passed without a new frame. One turn
 * is not enough: `await`ing a settled promise between two sends (a loop keeping a window of sends
 * in flight) takes one turn, and the frames of such a loop belong together too.
 */
const QUIET_TURNS = 2

/**
 * The turns are counted on this promise's reactions rather than with `queueMicrotask`: the same
 * microtask queue in the same order, but in Node `queueMicrotask` wraps every callback in an
 * AsyncResource, whose functions V8 compiles while the first round trips run (JIT work that shows
 * in the round-trip p99 of `npm run bench -- --only rtt-alone`).
 */
const RESOLVED = Promise.resolve()

/**
 * A WebSocket transport speaking `codec`, opened on construction. A class rather than an object of
 * closures: one connection's state in one object (it adds up over many clients).
 */
export class WebSocketTransport extends Reporter implements Transport {
  readonly #ws: WebSocketLike
  readonly #codec: Codec
  readonly #limit: FrameLimit
  #opened = false
  #status: number | undefined
  #lastError: string | undefined
  /** The last `error` frame: why the server is about to close. */
  #serverError: ErrorFrame | undefined
  /** This connection's hello said `batch: true`: frames of one tick may go as one array message. */
  #batch = false
  /** A frame was written this tick: the next ones are held until the tick ends. */
  #inTick = false
  /** Microtask turns in a row without a new frame (−1: a frame was held since the last turn). */
  #quiet = 0
  /** Frames held for the end of the tick (serialised), and their bytes as one array message (`[` counted while none are held). */
  #held: string[] | undefined
  #heldBytes = 1

  constructor(WS: WebSocketConstructor, url: string, codec: Codec, limit: FrameLimit, h: TransportHandlers) {
    super(h)
    const ws = (this.#ws = new WS(url))
    this.#codec = codec
    this.#limit = limit
    const r = this as Reporter
    ws.binaryType = 'arraybuffer'
    // Taking `ws`'s event means `ws` leaves the refused handshake to us: abort it, which reports
    // error + close (1006) as usual, now with the status known.
    if (typeof (ws as NodeWebSocketEvents).once === 'function') {
      ;(ws as NodeWebSocketEvents).once!('unexpected-response', (_req, res) => {
        this.#status = typeof res?.statusCode === 'number' ? res.statusCode : 0
        ws.close()
      })
    }
    ws.onopen = () => {
      ws.onopen = null // fires once; dropping it frees the handler (and the wrapper `ws` keeps for it)
      if (r.done) return
      this.#opened = true
      r.reportOpen()
      const first = codec.opened?.('websocket')
      if (first) r.frame(first)
    }
    ws.onmessage = (ev) => {
      if (r.done) return
      if (typeof ev.data !== 'string') return r.bad('binary frames are not part of the protocol')
      const f = codec.decode(ev.data)
      // A FrameError has no `t`.
      const t = (f as ServerFrame).t
      if (t === 'error') this.#serverError = f as ErrorFrame
      else if (t === 'hello') this.#batch = (f as HelloFrame).batch === true
      r.decoded(f)
    }
    ws.onerror = (ev) => {
      this.#lastError = errorText((ev as { error?: unknown })?.error ?? ev)
    }
    ws.onclose = (ev) => {
      if (r.done) return
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null
      const code = typeof ev.code === 'number' ? ev.code : ABNORMAL_CLOSURE
      const status = this.#status
      const e = this.#serverError
      r.finish({
        opened: this.#opened,
        cause: status !== undefined ? 'refused' : code === ABNORMAL_CLOSURE ? 'network' : 'closed',
        code,
        ...(status !== undefined && { status }),
        ...(e && { serverCode: e.code, serverMessage: e.message, ...(e.fatal && { fatal: true }) }),
        detail: (typeof ev.reason === 'string' && ev.reason.slice(0, 200)) || (status !== undefined ? `handshake answered HTTP ${status}` : this.#lastError) || `closed with code ${code}`,
      })
    }
  }

  send(frames: ClientFrame[]): void {
    const r = this as Reporter
    if (r.done || this.#ws.readyState !== 1) return
    const limit = this.#limit.maxFrameBytes()
    let replies: ServerFrame[] | undefined
    for (const f of frames) {
      const e = this.#codec.encode(f, 'websocket')
      if (!e) continue
      if ('reply' in e) {
        ;(replies ??= []).push(e.reply)
        continue
      }
      const seq = (f as Partial<SequencedClientFrame>).seq // pings and byes have none
      const wire = e.wire
      // Each UTF-16 unit is at most 3 bytes of UTF-8: a frame that short needs no count for the check.
      const bytes = this.#batch || (seq !== undefined && wire.length * 3 > limit) ? utf8Length(wire) : 0
      if (seq !== undefined && bytes > limit) {
        // Never written: the server would close with 1009 and the resend would loop. What follows is not written either (no gaps).
        // Reported synchronously, so nothing else is written before the state machine closed the gap (it may call send() again from here).
        r.replies(replies)
        return r.unsendable(seq, tooLarge(bytes, limit))
      }
      if (this.#batch) this.#write(wire, bytes, limit)
      else this.#ws.send(wire)
      if (e.ackWhenWritten && seq !== undefined) (replies ??= []).push({ t: 'ack', seq })
    }
    r.replies(replies)
  }

  /** Batched writing: the tick's first frame at once, the rest held for one array message (split to fit `limit`). */
  #write(wire: string, bytes: number, limit: number): void {
    if (!this.#inTick) {
      this.#inTick = true
      this.#quiet = 0
      this.#ws.send(wire)
      void RESOLVED.then((this.#tick ??= () => this.#turn()))
      return
    }
    this.#quiet = -1
    // As one message: `[` + the frames joined by `,` + `]` (each frame adds its `,` or the `]`). Full: write what is held first.
    if (this.#held && this.#heldBytes + bytes + 1 > limit) this.#release()
    this.#heldBytes += bytes + 1
    ;(this.#held ??= []).push(wire)
  }

  /** #turn as a callback, made on the first batched write (an idle connection holds none). */
  #tick: (() => void) | undefined

  /** A microtask turn passed: the tick ends once QUIET_TURNS turns in a row brought no new frame. */
  #turn(): void {
    if (++this.#quiet < QUIET_TURNS) return void RESOLVED.then(this.#tick!)
    this.#inTick = false
    this.#release()
  }

  /** Write the held frames as one message (a lone one as itself). Dropped if the socket is gone: the state machine resends what is unacked. */
  #release(): void {
    const held = this.#held
    if (!held) return
    this.#held = undefined
    this.#heldBytes = 1
    if ((this as Reporter).done || this.#ws.readyState !== 1) return
    this.#ws.send(held.length === 1 ? held[0]! : `[${held.join(',')}]`)
  }

  close(bye = false): void {
    if (this.done) return
    this.end()
    const ws = this.#ws
    ws.onopen = ws.onmessage = ws.onclose = null
    ws.onerror = noop // a close during CONNECTING fires error in some runtimes
    try {
      const e = bye && ws.readyState === 1 ? this.#codec.encode({ t: 'bye' }, 'websocket') : null
      if (e && 'wire' in e) ws.send(e.wire)
      // The number itself: reading it off CloseCode would put that whole table in the bundle; `satisfies` keeps it in step.
      ws.close(1000 satisfies typeof CloseCode.normal, bye ? 'client closed' : 'replaced')
    } catch {
      /* already closing */
    }
  }
}

/** The error for one frame the transport would not write. */
export function tooLarge(bytes: number, limit: number): SurewireError {
  return new SurewireError('too_large', `frame of ${bytes} B exceeds the server's maxFrameBytes (${limit})`)
}
