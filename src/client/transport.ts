import type { SurewireError } from '../errors'
import type { ClientFrame, ErrorCode, FrameError, ServerFrame } from '../protocol'

export type { TransportKind } from '../protocol'

/**
 * Why a transport ended, as data: the state machine switches on this, never on `detail`.
 *
 * - `refused`: the handshake got an HTTP answer other than 101 (WebSocket; `status` set where the
 *   runtime shows it: `ws` in Node), or the SSE GET got a non-200 / non-event-stream answer (`status` set).
 * - `network`: the connection failed or dropped with no close frame (1006, fetch TypeError, reset).
 *   Browsers and WHATWG WebSockets report a refused handshake this way too (they expose no status).
 * - `closed`: the peer closed it: a WebSocket close frame (`code` set) or the SSE stream ended.
 * - `post_refused`: a POST got a non-2xx answer (`status` set; `serverCode` / `serverMessage` set
 *   when the body was a protocol error array).
 * - `post_failed`: a POST failed on the network.
 * - `post_timeout`: a POST got no answer within `postTimeoutMs`.
 * - `protocol`: the stream broke the protocol beyond one bad frame (an SSE line over the bound).
 */
export type TransportCloseCause = 'refused' | 'network' | 'closed' | 'post_refused' | 'post_failed' | 'post_timeout' | 'protocol'

/** How a transport ended. Reported exactly once, and never after `close()` was called on it. */
export interface TransportClose {
  /** Did the underlying connection open (WebSocket `open` / SSE 200 + event-stream)? */
  opened: boolean
  cause: TransportCloseCause
  /** WebSocket close code, when there is one. */
  code?: number
  /** HTTP status, where the runtime exposes it (SSE, POST, `ws` in Node). */
  status?: number
  /** The server said why: the last `error` frame before the close, or a POST / GET error body. */
  serverCode?: ErrorCode
  serverMessage?: string
  /** The server marked that error fatal (`"fatal": true`); whether to stop is the state machine's decision. */
  fatal?: boolean
  /** Human-readable detail for logs only (close reason, error message); no control flow reads it. Never contains the token. */
  detail: string
}

/** Callbacks a transport reports to the client's state machine. */
export interface TransportHandlers {
  onOpen(): void
  /** `viaPost`: a reply in a POST response, which says nothing about the SSE stream's health. */
  onFrame(frame: ServerFrame, viaPost?: boolean): void
  /** A frame that is not valid protocol; the connection continues. */
  onBadFrame(error: FrameError): void
  /**
   * The sequenced frame `seq` was never written: serialised, it is larger than the server accepts
   * (`error.code` is `too_large`). The transport also dropped every frame after it that it had not
   * written yet (the server refuses sequence gaps), so the state machine rejects `seq`, closes the
   * gap and sends the rest again. Reported synchronously, possibly from inside `send()`, before the
   * transport writes anything else; the handler may call `send()` again.
   */
  onUnsendable(seq: number, error: SurewireError): void
  onClose(info: TransportClose): void
}

/**
 * A dumb pipe: it opens once, moves frames, and reports how it ended.
 * It never retries; every retry decision belongs to the client's state machine. (Its kind is the
 * state machine's to keep, in the connection record: nothing reads it off the transport.)
 */
export interface Transport {
  send(frames: ClientFrame[]): void
  /** Close without reporting back. `bye` tells the server the session is over. */
  close(bye?: boolean): void
}

/** What the state machine hands to a transport when it opens one. */
export interface TransportParams {
  token: string | undefined
  sid: string | undefined
  lastId: number
}
