import type { IncomingMessage } from 'node:http'
import type { StandardSchemaV1 } from '../schema'
import type { Connection } from './session'

/** Which browser origins may connect (WebSocket `Origin` check and CORS for SSE/POST). */
export type OriginPolicy = 'same-origin' | '*' | readonly string[] | ((origin: string) => boolean)

export interface ServerOptions<In extends StandardSchemaV1, Out extends StandardSchemaV1> {
  /** Path every transport is served under: WebSocket upgrade, SSE GET and POST. @default '/realtime' */
  path?: string
  /** Schema of client → server messages; invalid ones are answered with a `nack` and never reach handlers. */
  incoming: In
  /** Schema of server → client messages; `send`/`broadcast` throw on invalid ones. */
  outgoing: Out
  /**
   * Decide who the client is, on every connection and POST. Return the user (any value) or
   * null/undefined to refuse (WebSocket: close 4401; SSE/POST: HTTP 401). Use
   * {@link bearerToken} to read the token the client sent. Omit to allow everyone.
   */
  authenticate?: (req: IncomingMessage) => unknown | Promise<unknown>
  /** Key that identifies a user, to bind sessions to identities. @default user.id when present, else JSON */
  identify?: (user: unknown) => string
  /** May this connection subscribe to `topic`? @default allow */
  authorizeSubscribe?: (conn: Connection<In, Out>, topic: string) => boolean | Promise<boolean>
  /** Browser origins allowed to connect. Requests without an Origin header (non-browsers) are always allowed. @default 'same-origin' */
  allowedOrigins?: OriginPolicy
  /** SSE heartbeat interval and the ping interval clients must keep on WebSocket. Keep under proxy idle timeouts (nginx: 60 s). @default 15_000 */
  heartbeatIntervalMs?: number
  /** A disconnected session can be resumed for this long; after that the client gets a fresh session. @default 60_000 */
  sessionTtlMs?: number
  /**
   * Most messages kept per session for replay after a reconnect (a count bound on top of the
   * byte and age bounds below, which are what normally applies). @default Infinity
   */
  replayWindow?: number
  /**
   * Most characters of serialized messages (≈ bytes for ASCII JSON) kept per session for replay.
   * A client that missed more than this gets `reset: 'replay_window_exceeded'`. A burst of 5,000
   * small messages (~80 characters each) fits several times over. @default 1_048_576
   */
  replayWindowBytes?: number
  /**
   * How long a message stays in the replay log. Keep it ≥ `sessionTtlMs`, so a client that drops
   * and comes back within the resume window finds everything it missed. @default 2 × sessionTtlMs
   */
  replayWindowMs?: number
  /**
   * Bound on the replay logs of all sessions of this process together, in characters. Past it,
   * the session that is sending trims its own oldest messages first. @default 268_435_456 (256 MiB)
   */
  maxReplayBytes?: number
  /**
   * How many sequenced frames behind the last one a client may still resend after a lost reply:
   * the server remembers its nacks that far back, so a resent frame whose nack was lost is nacked
   * again, never acked. Keep it at least the clients' `maxQueuedMessages` (client default 1_000).
   * A resend from further back is nacked `bad_frame` (outcome unknown), never acked.
   * @default 1_000
   */
  resendWindow?: number
  /** Largest WebSocket frame / POST body accepted, in bytes (WebSocket: close 1009; POST: 413). @default 1_048_576 */
  maxFrameBytes?: number
  /**
   * Messages (and subscription changes) one client session may send per second, with a burst of
   * the same size. Frames over the rate are consumed and answered with a `nack` coded
   * `rate_limited` (the client's send() rejects with a RejectedError); pings are not counted.
   * Off by default so throughput is the app's call; set it on servers open to the internet.
   * @default Infinity
   */
  maxInboundPerSecond?: number
}

export const serverDefaults = {
  path: '/realtime',
  allowedOrigins: 'same-origin' as OriginPolicy,
  heartbeatIntervalMs: 15_000,
  sessionTtlMs: 60_000,
  replayWindow: Infinity,
  replayWindowBytes: 1_048_576,
  maxReplayBytes: 268_435_456,
  resendWindow: 1_000,
  maxFrameBytes: 1_048_576,
  maxInboundPerSecond: Infinity,
} as const

/** The token a surewire client sent: `Authorization: Bearer …`, else the `access_token` query parameter (WebSocket from browsers). */
export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization
  if (typeof h === 'string' && /^Bearer /i.test(h)) return h.slice(7).trim()
  const q = new URL(req.url ?? '/', 'http://x').searchParams.get('access_token')
  return q ?? undefined
}

export function defaultIdentify(user: unknown): string {
  const id = (user as { id?: unknown } | null)?.id
  if (typeof id === 'string' || typeof id === 'number') return String(id)
  return JSON.stringify(user) ?? 'null'
}

/** Is a browser request from `origin` allowed to reach a server at `host`? */
export function originAllowed(policy: OriginPolicy, origin: string | undefined, host: string | undefined): boolean {
  if (!origin) return true
  if (policy === '*') return true
  if (typeof policy === 'function') return policy(origin)
  try {
    if (new URL(origin).host === host) return true
  } catch {
    return false
  }
  return policy !== 'same-origin' && policy.includes(origin)
}
