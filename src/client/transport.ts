import type { ClientFrame, ServerFrame } from '../protocol'
import type { FrameError } from '../protocol'
import type { FetchLike } from './sse'
import type { Endpoints } from './url'
import type { WebSocketConstructor } from './websocket'

export type { TransportKind } from '../protocol'
import type { TransportKind } from '../protocol'

/** How a transport ended. Reported exactly once, and never after `close()` was called on it. */
export interface TransportClose {
  /** Did the underlying connection open (WebSocket `open` / SSE 200 + event-stream)? */
  opened: boolean
  /** WebSocket close code, when there is one. */
  code?: number
  /** HTTP status, where the runtime exposes it (SSE, POST, `ws` in Node). */
  status?: number
  /** Human-readable detail for logs (close reason, error message). Never contains the token. */
  detail: string
}

/** Callbacks a transport reports to the client's state machine. */
export interface TransportHandlers {
  onOpen(): void
  /** `viaPost`: a reply in a POST response, which says nothing about the SSE stream's health. */
  onFrame(frame: ServerFrame, viaPost?: boolean): void
  /** A frame that is not valid protocol; the connection continues. */
  onBadFrame(error: FrameError): void
  onClose(info: TransportClose): void
}

/**
 * A dumb pipe: it opens once, moves frames, and reports how it ended.
 * It never retries; every retry decision belongs to the client's state machine.
 */
export interface Transport {
  readonly kind: TransportKind
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

/** What the state machine lends a protocol to open a transport with. */
export interface TransportContext {
  /** The WebSocket constructor (present whenever `kind` is `websocket`). */
  WebSocket: WebSocketConstructor
  fetch: FetchLike
  endpoints: Endpoints
  /** The server's frame limit from its hello (Infinity before one arrived). */
  maxFrameBytes: () => number
}

/**
 * How frames map onto the wire. The default is the surewire protocol (docs/PROTOCOL.md);
 * `compat()` speaks plain JSON to an existing backend. A protocol only builds transports:
 * the state machine above it is the same either way.
 */
export interface Protocol {
  readonly name: string
  open(kind: TransportKind, ctx: TransportContext, params: TransportParams, h: TransportHandlers): Transport
}
