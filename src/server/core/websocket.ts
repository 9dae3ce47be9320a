import { CloseCode, FrameError, parseClientFrame, type ServerFrame } from '../../protocol'
import { openParams, type RealtimeRequest } from '../request'
import type { Session } from '../session'
import type { Sink } from '../sink'
import { CLOSE_GRACE_MS, now, type ServerCore } from './core'
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
 * out with backpressure, idle check, rate-limited error replies.
 */
export function openedSocket(core: ServerCore, socket: SocketLike, req: RealtimeRequest): SocketHandlers {
  const o = core.options
  let closing = false
  let grace: ReturnType<typeof setTimeout> | undefined
  /** Close with a code; the socket is destroyed if the close handshake does not finish in time. */
  const close = (code: number, reason: string) => {
    if (closing) return
    closing = true
    socket.close(code, reason)
    grace = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS)
    ;(grace as { unref?: () => void }).unref?.()
  }
  const sendNow = (f: ServerFrame) => socket.sendAll([JSON.stringify(f)])
  const noop: SocketHandlers = { message: () => {}, closed: () => clearTimeout(grace) }

  const origin = checkOrigin(o.allowedOrigins, o.trustForwardedHost, req)
  if (!origin.ok) {
    // Accept-then-close (contract C2): browsers see the reason; no session, no frame read.
    sendNow(errorFrame('origin_not_allowed', origin.message))
    close(CloseCode.forbidden, 'origin not allowed')
    return noop
  }

  const outbox = new Outbox(
    { writeFrames: (fs) => socket.sendAll(fs.map((f) => f.text)), buffered: () => socket.buffered(), onDrain: (cb) => socket.onDrain(cb) },
    o.maxBufferedBytes,
    () => close(CloseCode.slowConsumer, 'slow consumer'),
  )
  const sink: Sink = {
    kind: 'websocket',
    write: (text) => void outbox.write(text),
    // Replaced: at once. Otherwise (session over) what is queued goes out first, then the close frame.
    close: (code, reason) => (code === CloseCode.replaced ? (outbox.close(), close(code, reason)) : outbox.finish(() => close(code, reason))),
    bufferedBytes: () => outbox.bufferedBytes(),
  }
  let session: Session | undefined
  let gone = false
  let lastSeen = now()
  const early: (string | null)[] = []
  let badInARow = 0

  const badFrame = (message: string) => {
    if (++badInARow > MAX_BAD_FRAMES_IN_A_ROW) {
      sink.write(JSON.stringify(errorFrame('bad_frame', `more than ${MAX_BAD_FRAMES_IN_A_ROW} bad frames in a row; closing`)))
      return sink.close(CloseCode.badFrame, 'too many bad frames')
    }
    sink.write(JSON.stringify(errorFrame('bad_frame', message)))
  }
  const reply = (f: ServerFrame) => (session?.sink === sink ? sink.write(JSON.stringify(f)) : undefined)
  const handle = (text: string | null) => {
    lastSeen = now()
    if (closing) return
    if (text === null) return badFrame('binary frames are not part of the protocol')
    let frame
    try {
      frame = parseClientFrame(text)
    } catch (err) {
      return badFrame((err as FrameError).message)
    }
    badInARow = 0
    session!.process([frame], reply).catch((err) => core.reportError(err))
  }
  const live = {
    beat: (t: number) => {
      if (t - lastSeen > 3 * o.heartbeatIntervalMs) close(CloseCode.idleTimeout, 'no ping from client')
    },
  }

  const start = async () => {
    const auth = await core.authenticate(req)
    if (gone || closing) return
    if (!auth.ok && auth.failed) {
      sendNow(errorFrame('server_error', 'authentication is unavailable; retry later'))
      return close(CloseCode.internalError, 'authentication unavailable')
    }
    if (!auth.ok) {
      // Accept-then-close so browsers (which never see an HTTP status) get a reason they can show.
      sendNow(errorFrame('unauthorized', 'authentication failed'))
      return close(CloseCode.unauthorized, 'unauthorized')
    }
    const { sid, last } = openParams(req)
    lastSeen = now()
    core.live.add(live)
    core.startSweep()
    session = await core.sessions.open(sink, { sid, last, user: auth.user })
    outbox.live = true
    if (gone) return core.sessions.detach(session, sink)
    for (const m of early.splice(0)) handle(m)
  }
  start().catch((err) => {
    core.reportError(err)
    close(CloseCode.internalError, 'server error')
  })

  return {
    message(text) {
      if (session) return handle(text)
      if (closing) return
      if (early.push(text) > MAX_EARLY_FRAMES) close(CloseCode.badFrame, 'too many frames before authentication finished')
    },
    closed() {
      if (gone) return
      gone = true
      clearTimeout(grace)
      outbox.close()
      core.live.delete(live)
      if (session) core.sessions.detach(session, sink)
    },
  }
}
