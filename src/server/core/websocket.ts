import { CloseCode, FrameError, parseClientMessage, type ServerFrame } from '../../protocol'
import { openParams, type RealtimeRequest } from '../request'
import type { Session } from '../session'
import type { Sink } from '../sink'
import { tickNow } from './clock'
import { CLOSE_GRACE_MS, now, type LiveConnection, type ServerCore } from './core'
import { DRAIN_CLOSE } from './drain'
import { checkOrigin } from './origin'
import { Outbox } from './outbox'
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
    conn.close(CloseCode.internalError, 'server error')
  })
  return conn // itself, not an object of closures (memory per connection)
}

class SocketConnection implements LiveConnection, SocketHandlers {
  readonly #outbox: Outbox
  readonly #sink: Sink
  #session: Session | undefined
  #closing = false
  #gone = false
  #grace: ReturnType<typeof setTimeout> | undefined
  #lastSeen = now()
  #early: (string | null)[] = []
  #badInARow = 0

  constructor(
    private readonly core: ServerCore,
    private readonly socket: SocketLike,
  ) {
    this.#outbox = new Outbox(
      {
        writeFrames: (texts, _ids, from, to) => socket.sendAll(from === 0 && to === texts.length ? texts : texts.slice(from, to)),
        buffered: () => socket.buffered(),
        onDrain: (cb) => socket.onDrain(cb),
      },
      core.options.maxBufferedBytes,
      () => this.#slow(),
      () => this.#flushAck(), // the tick's coalesced ack leaves in the same corked write as the tick's messages
    )
    this.#sink = {
      kind: 'websocket',
      write: (text) => void this.#outbox.write(text),
      // Replaced: at once. Otherwise (session over) what is queued goes out first, then the close frame.
      // A client that does not read cannot hold the socket open: it is destroyed after the grace period either way.
      close: (code, reason) => {
        if (code === CloseCode.replaced) return this.#outbox.close(), this.close(code, reason)
        this.#armGrace()
        this.#flushAck() // a pending ack goes out before the close (bye: "flush pending acks")
        this.#outbox.finish(() => this.close(code, reason))
      },
      bufferedBytes: () => this.#outbox.bufferedBytes(),
    }
  }

  /** Close with a code; the socket is destroyed if the close handshake does not finish in time. */
  close(code: number, reason: string): void {
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
    this.close(code, reason)
  }

  async start(req: RealtimeRequest): Promise<void> {
    if (this.core.draining) return this.refuse(errorFrame('server_error', 'this server is draining; connect again (another process takes over)'), DRAIN_CLOSE.code, DRAIN_CLOSE.reason)
    const auth = await this.core.authenticate(req)
    if (this.#gone || this.#closing) return
    if (!auth.ok && auth.failed) return this.refuse(errorFrame('server_error', 'authentication is unavailable; retry later'), CloseCode.internalError, 'authentication unavailable')
    // Accept-then-close so browsers (which never see an HTTP status) get a reason they can show.
    if (!auth.ok) return this.refuse(errorFrame('unauthorized', 'authentication failed'), CloseCode.unauthorized, 'unauthorized')
    const { sid, last } = openParams(req)
    this.#lastSeen = now()
    this.core.live.add(this)
    this.core.startSweep()
    const session = await this.core.sessions.open(this.#sink, { sid, last, user: auth.user })
    this.#session = session
    this.#outbox.live = true
    if (this.#gone) return this.core.sessions.detach(session, this.#sink)
    for (const m of this.#early.splice(0)) this.#handle(m)
  }

  message(text: string | null): void {
    if (this.#session) return this.#handle(text)
    if (this.#closing) return
    if (this.#early.push(text) > MAX_EARLY_FRAMES) this.close(CloseCode.badFrame, 'too many frames before authentication finished')
  }

  closed(): void {
    if (this.#gone) return
    this.#gone = true
    clearTimeout(this.#grace)
    this.#outbox.close()
    this.core.live.delete(this)
    if (this.#session) this.core.sessions.detach(this.#session, this.#sink)
  }

  /** The sweep: no client frame for 3 × hb is a dead connection. */
  beat(t: number): void {
    if (t - this.#lastSeen > 3 * this.core.options.heartbeatIntervalMs) this.close(CloseCode.idleTimeout, 'no ping from client')
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
    const pending = this.#session!.process(frames, this.#reply, this.#sink)
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
  readonly #reply = (f: ServerFrame): void => {
    if (this.#session?.sink !== this.#sink) return
    if (f.t === 'ack') {
      if (this.#ackSeq < 0) this.#outbox.wake() // the outbox's flush at the end of the tick writes it (beforeFlush)
      if (f.seq > this.#ackSeq) this.#ackSeq = f.seq
      return
    }
    this.#flushAck()
    this.#sink.write(JSON.stringify(f))
  }

  #flushAck(): void {
    const seq = this.#ackSeq
    if (seq < 0) return
    this.#ackSeq = -1
    if (this.#session?.sink === this.#sink) this.#outbox.write(`{"t":"ack","seq":${seq}}`)
  }

  #badFrame(message: string): void {
    if (++this.#badInARow > MAX_BAD_FRAMES_IN_A_ROW) {
      this.#sink.write(JSON.stringify(errorFrame('bad_frame', `more than ${MAX_BAD_FRAMES_IN_A_ROW} bad frames in a row; closing`)))
      return this.#sink.close(CloseCode.badFrame, 'too many bad frames')
    }
    this.#sink.write(JSON.stringify(errorFrame('bad_frame', message)))
  }

  /** Over maxBufferedBytes: detach at once (the session can be resumed from its replay log); the socket follows within the grace period. */
  #slow(): void {
    this.close(CloseCode.slowConsumer, 'slow consumer: too many bytes queued')
    if (this.#session) this.core.sessions.detach(this.#session, this.#sink)
  }
}
