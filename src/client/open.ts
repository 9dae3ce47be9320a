import type { Codec } from './codec'
import { openSse, type FetchLike } from './sse'
import type { Transport, TransportHandlers, TransportKind, TransportParams } from './transport'
import type { Endpoints } from './url'
import { WebSocketTransport, type FrameLimit, type WebSocketConstructor } from './websocket'

/** What the state machine lends a transport. */
export interface TransportContext {
  /** The WebSocket constructor (present whenever `kind` is `websocket`). */
  WebSocket: WebSocketConstructor
  fetch: FetchLike
  endpoints: Endpoints
  /** The server's frame limit from its hello (Infinity before one arrived). */
  maxFrameBytes(): number
  /** A POST with no answer within this closes the SSE transport with cause `post_timeout`. */
  postTimeoutMs: number
}

/**
 * The one way the client opens a transport: either kind, speaking any codec. A WebSocket keeps
 * `limit` for the server's frame limit (the client passes its connection record, so the socket keeps
 * neither `ctx` nor a closure); SSE keeps `ctx`.
 */
export function openTransport(codec: Codec, kind: TransportKind, ctx: TransportContext, params: TransportParams, h: TransportHandlers, limit: FrameLimit = ctx): Transport {
  return kind === 'websocket'
    ? new WebSocketTransport(ctx.WebSocket, codec.websocketUrl(ctx.endpoints, params), codec, limit, h)
    : openSse(codec, ctx, params, h)
}
