import type { TransportKind } from './transport'

export type Status = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'

/**
 * Why the status (or transport) changed. Every `status` event carries one.
 *
 * Opening: `connect_called`, `retry`, `auth_retry`, `network_online`, `visible`.
 * Open: `opened` (WebSocket, or SSE when it is the only transport), and on SSE the reason
 * WebSocket was not used: `ws_refused`, `ws_timeout`, `ws_silent`, `ws_unavailable`,
 * `ws_remembered`; `ws_restored` when a background probe moved the session back to WebSocket.
 * Lost / failed: `pong_timeout`, `sse_silent`, `sse_refused`, `server_closed`,
 * `connection_lost`, `post_failed` (a POST failed on the network, or the server refused it: the
 * `detail` then carries the server's code and message, also sent on `error` as a `ServerRefusalError`),
 * `post_timeout` (a POST got no answer within `postTimeoutMs`), `protocol_error` (the stream broke the
 * protocol beyond one bad frame, e.g. an SSE line over the bound), `network_offline`, `connect_timeout`,
 * `connect_failed` (no transport could reach the server), `token_failed` (the token provider threw),
 * `token_timeout` (it did not settle within `connectTimeoutMs`),
 * `sse_buffered` (the SSE stream gave no event before the connect timeout although the server
 * answered — response headers arrived, or it answered the WebSocket handshake: a proxy buffers it).
 * Still open, the server's state changed (only from servers that send `notice` frames,
 * docs/PROTOCOL.md): `server_degraded` (the server cannot do its work fully; `detail` carries its
 * code, e.g. `broker_unavailable`: it cannot reach Redis, so sends stay unacknowledged (queued) and
 * its messages are held until it is back), `server_recovered` (it can again). A connection opened
 * while the server is degraded gets `opened` (or its SSE reason) first, then `server_degraded`.
 * Closed: `closed_by_client`, `auth_failed`, `gave_up` (`maxAttempts` failed attempts in a row),
 * `fatal_error` (no usable transport, or the server refused for good: an error frame with
 * `fatal: true` or a code such as `origin_not_allowed`; `error` carries a `ServerRefusalError`).
 */
export type StatusReason =
  | 'connect_called'
  | 'retry'
  | 'auth_retry'
  | 'network_online'
  | 'visible'
  | 'opened'
  | 'ws_refused'
  | 'ws_timeout'
  | 'ws_silent'
  | 'ws_unavailable'
  | 'ws_remembered'
  | 'ws_restored'
  | 'pong_timeout'
  | 'sse_silent'
  | 'sse_refused'
  | 'sse_buffered'
  | 'server_closed'
  | 'connection_lost'
  | 'post_failed'
  | 'post_timeout'
  | 'protocol_error'
  | 'network_offline'
  | 'connect_timeout'
  | 'connect_failed'
  | 'token_failed'
  | 'token_timeout'
  | 'closed_by_client'
  | 'auth_failed'
  | 'gave_up'
  | 'fatal_error'
  | 'server_degraded'
  | 'server_recovered'

export interface StatusEvent {
  status: Status
  previous: Status
  transport: TransportKind | null
  reason: StatusReason
  /** Failed attempts in a row (0 once a connection has been healthy for `healthyAfterMs`). */
  attempt: number
  /** With `reconnecting`: how long until the next attempt. */
  delayMs?: number
  /** Low-level detail for logs: close code/reason, HTTP status. Never contains the token. */
  detail?: string
  /** With `closed` after a failure: the error `connect()` rejected with. */
  error?: Error
}

/** Counters for observability and tests. */
export interface ClientStats {
  /** Messages received twice (e.g. across a resume) and dropped. */
  duplicates: number
  /** Reconnects where the server resumed the session and replayed what was missed. */
  resumes: number
  /** Times the session was reset (server restart, expired session, replay window exceeded). */
  resets: number
  /** Connection attempts started (including fallbacks and probes). */
  attempts: number
}

/**
 * The client's state as one immutable object, replaced (never mutated) on every `status` event,
 * so `useSyncExternalStore` and other stores can compare it by identity.
 */
export interface ClientSnapshot {
  readonly status: Status
  readonly transport: TransportKind | null
  /** Why the status last changed; null before the first `connect()`. */
  readonly reason: StatusReason | null
  readonly attempt: number
  readonly delayMs?: number
  readonly detail?: string
  readonly error?: Error
}
