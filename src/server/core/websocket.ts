import { CloseCode, FrameError, parseClientMessage, type ServerFrame } from '../../protocol'
import { BrokerError } from '../broker'
import { openParams, type RealtimeRequest } from '../request'
import type { Session } from '../session'
import type { Sink } from '../sink'
import { tickNow } from './clock'
import { CLOSE_GRACE_MS, now, type LiveConnection, type ServerCore } from './core'
import { DRAIN_CLOSE } from './drain'
import { checkOrigin } from './origin'
import { Outbox, type FramePipe } from './outbox'
import { errorFrame } from './replies'

/** An accepted WebSocket as an adapter provides it (graphql-ws style): the core never sees `ws`. */
export interface SocketLike {
  /** Send text messages, in order (the adapter may cork them into one write). */
  sendAll(texts: readonly string[]): void
  /** Bytes queued and not yet taken by the network (`bufferedAmount`). */
  buffered(): number
  onDrain(cb: () => void): void
  close(code: number, reason: string): void
  /** Cut at once (no close handshake). */
  destroy(): void
}

/** What the adapter reports back: each message (`null` for a binary one) and the end of the socket. */
export interface SocketHandlers {
  message(text: string | null): void
  closed(): void
}

/** Frames a client may send while authentication runs; more is a flood. */
export const MAX_EARLY_FRAMES = 64
/**
 * Bad frames in a row (no valid frame between them) answered with an `error` frame; the next one
 * closes the connection with 4400. A client that floods garbage gets this many replies, not one
 * per frame; a client with an occasional bad frame is never cut.
 */
export const MAX_BAD_FRAMES_IN_A_ROW = 32

/**
 * Serve one accepted WebSocket: Origin check, authentication, session attach, frames in and
 * out with backpressure, idle check, bounded error replies.
 */
export function openedSocket(core: ServerCore, socket: SocketLike, req: RealtimeRequest): SocketHandlers {
  const o = core.options
  const origin = checkOrigin(o.allowedOrigins, o.trustForwardedHost, req)
  const conn = new SocketConnection(core, socket)
  if (!origin.ok) {
    // Accept-then-close (contract C2): browsers see the reason; no session, no frame read.
    conn.refuse(errorFrame('origin_not_allowed', origin.message), CloseCode.forbidden, 'origin not allowed')
    return conn // refused: closing, so message() ignores what arrives
  }
  conn.start(req).catch((err) => {
    core.reportError(err)
    // The shared broker did not answer (Redis down): retryable, and the client's status detail says why.
    if (err instanceof BrokerError) conn.refuse(errorFrame('server_error', `${err.code}: ${err.message}`), CloseCode.internalError, err.code)
    else conn.shut(CloseCode.internalError, 'server error')
  })
  return conn // itself, not an object of closures (memory per connection)
}

/**
 * One accepted WebSocket. It is its own outbox pipe and its own session sink: their methods live
 * on the prototype, so an idle connection holds no closure of its own (memory per connection).
 */
class SocketConnection implements LiveConnection, SocketHandlers, Sink, FramePipe {
  readonly #outbox: Outbox
  #session: Session | undefined
  #closing = false
  #gone = false
  #grace: ReturnType<typeof setTimeout> | undefined
  #lastSeen = now()
  /** Frames that arrived while authentication ran; allocated by the first such frame. */
  #early: (string | null)[] | undefined
  #badInARow = 0

  constructor(
    private readonly core: ServerCore,
    private readonly socket: SocketLike,
  ) {
    this.#outbox = new Outbox(this, core.options.maxBufferedBytes) // overflow() and beforeFlush() are methods below
  }

  // Sink (the session's side)

  get kind(): 'websocket' {
    return 'websocket'
  }
  /** See {@link Sink.notices}; an own property only when the client asked (memory per connection). */
  declare notices?: boolean

  write(text: string): void {
    void this.#outbox.write(text)
  }

  /**
   * Replaced: at once. Otherwise (session over) what is queued goes out first, then the close frame.
   * A client that does not read cannot hold the socket open: it is destroyed after the grace period either way.
   */
  close(code: number, reason: string): void {
    if (code === CloseCode.replaced) return this.#outbox.close(), this.shut(code, reason)
    this.#armGrace()
    this.#flushAck() // a pending ack goes out before the close (bye: "flush pending acks")
    this.#outbox.finish(() => this.shut(code, reason))
  }

  bufferedBytes(): number {
    return this.#outbox.bufferedBytes()
  }

  // FramePipe (the outbox's side)

  writeFrames(texts: readonly string[], _ids: readonly number[], from: number, to: number): void {
    this.socket.sendAll(from === 0 && to === texts.length ? texts : texts.slice(from, to))
  }

  buffered(): number {
    return this.socket.buffered()
  }

  onDrain(cb: () => void): void {
    this.socket.onDrain(cb)
  }

  overflow(): void {
    this.#slow()
  }

  /** The tick's coalesced ack leaves in the same corked write as the tick's messages. */
  beforeFlush(): void {
    this.#flushAck()
  }

  /** Close with a code; the socket is destroyed if the close handshake does not finish in time. */
  shut(code: number, reason: string): void {
    if (this.#closing) return
    this.#closing = true
    this.socket.close(code, reason)
    this.#armGrace()
  }

  #armGrace(): void {
    if (this.#grace || this.#gone) return
    this.#grace = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS)
    ;(this.#grace as { unref?: () => void }).unref?.()
  }

  /** One frame saying why, then close (before any session exists). */
  refuse(frame: ServerFrame, code: number, reason: string): void {
    this.socket.sendAll([JSON.stringify(frame)])
    this.shut(code, reason)
  }

  async start(req: RealtimeRequest): Promise<void> {
    if (this.core.draining) return this.refuse(errorFrame('server_error', 'this server is draining; connect again (another process takes over)'), DRAIN_CLOSE.code, DRAIN_CLOSE.reason)
    const auth = await this.core.authenticate(req)
    if (this.#gone || this.#closing) return
    if (!auth.ok && auth.failed) return this.refuse(errorFrame('server_error', 'authentication is unavailable; retry later'), CloseCode.internalError, 'authentication unavailable')
    // Accept-then-close so browsers (which never see an HTTP status) get a reason they can show.
    if (!auth.ok) return this.refuse(errorFrame('unauthorized', 'authentication failed'), CloseCode.unauthorized, 'unauthorized')
    const { sid, last, notices } = openParams(req)
    if (notices) this.notices = true
    this.#lastSeen = now()
    this.core.live.add(this)
    this.core.startSweep()
    const session = await this.core.sessions.open(this, { sid, last, user: auth.user })
    this.#session = session
    this.#outbox.live = true
    if (this.#gone) return this.core.sessions.detach(session, this)
    const early = this.#early
    this.#early = undefined
    if (early) for (const m of early) this.#handle(m)
  }

  message(text: string | null): void {
    if (this.#session) return this.#handle(text)
    if (this.#closing) return
    if ((this.#early ??= []).push(text) > MAX_EARLY_FRAMES) this.shut(CloseCode.badFrame, 'too many frames before authentication finished')
  }

  closed(): void {
    if (this.#gone) return
    this.#gone = true
    clearTimeout(this.#grace)
    this.#outbox.close()
    this.core.live.delete(this)
    if (this.#session) this.core.sessions.detach(this.#session, this)
  }

  /** The sweep: no client frame for 3 × hb is a dead connection. */
  beat(t: number): void {
    if (t - this.#lastSeen > 3 * this.core.options.heartbeatIntervalMs) this.shut(CloseCode.idleTimeout, 'no ping from client')
  }

  #handle(text: string | null): void {
    this.#lastSeen = tickNow() // one clock read per tick, however many messages one read brought
    if (this.#closing) return
    if (text === null) return this.#badFrame('binary frames are not part of the protocol')
    let frames
    try {
      frames = parseClientMessage(text) // one frame, or an array of them (contract B1): a bad element, nothing processed
    } catch (err) {
      return this.#badFrame((err as FrameError).message)
    }
    this.#badInARow = 0
    // A closure per message (short-lived), not one held by every connection.
    const pending = this.#session!.process(frames, (f) => this.#reply(f), this)
    if (pending) pending.catch((err: unknown) => this.core.reportError(err))
  }

  /** The highest seq acked by batches of this tick, not yet written; -1 when none. */
  #ackSeq = -1

  /**
   * Replies of this connection's batches. Acks are cumulative, so those of the messages that
   * arrive in one tick are coalesced into one, written at the end of the tick (or before the
   * next nack / pong, which keeps "a pending ack before a nack or pong"). Replies for a
   * connection that is no longer the session's live one are dropped (the client resends).
   */
  #reply(f: ServerFrame): void {
    if (this.#session?.sink !== this) return
    if (f.t === 'ack') {
      if (this.#ackSeq < 0) this.#outbox.wake() // the outbox's flush at the end of the tick writes it (beforeFlush)
      if (f.seq > this.#ackSeq) this.#ackSeq = f.seq
      return
    }
    this.#flushAck()
    this.write(JSON.stringify(f))
  }

  #flushAck(): void {
    const seq = this.#ackSeq
    if (seq < 0) return
    this.#ackSeq = -1
    if (this.#session?.sink === this) this.#outbox.write(`{"t":"ack","seq":${seq}}`)
  }

  #badFrame(message: string): void {
    if (++this.#badInARow > MAX_BAD_FRAMES_IN_A_ROW) {
      this.write(JSON.stringify(errorFrame('bad_frame', `more than ${MAX_BAD_FRAMES_IN_A_ROW} bad frames in a row; closing`)))
      return this.close(CloseCode.badFrame, 'too many bad frames')
    }
    this.write(JSON.stringify(errorFrame('bad_frame', message)))
  }

  /** Over maxBufferedBytes: detach at once (the session can be resumed from its replay log); the socket follows within the grace period. */
  #slow(): void {
    this.shut(CloseCode.slowConsumer, 'slow consumer: too many bytes queued')
    if (this.#session) this.core.sessions.detach(this.#session, this)
  }
}
