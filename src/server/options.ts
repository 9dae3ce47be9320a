import { ConfigError } from '../errors'
import type { Broker } from './broker'
import { DEFAULT_HEARTBEAT_MS, MAX_TIMER_MS } from '../protocol'
import { isStandardSchema, type StandardSchemaV1 } from '../schema'
import type { Connection } from './connection'
import type { RealtimeRequest } from './request'

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
   * null/undefined/false to refuse (WebSocket: error frame + close 4401; SSE/POST: HTTP 401).
   * It receives a {@link RealtimeRequest} on every adapter (node:http and Fetch); use
   * {@link bearerToken} to read the token the client sent. A throwing authenticate counts as
   * "auth unavailable" (retryable 500 / close 1011), not as a refusal. Omit to allow everyone.
   */
  authenticate?: (req: RealtimeRequest) => unknown | Promise<unknown>
  /** Key that identifies a user, to bind sessions to identities. @default user.id when present, else JSON */
  identify?: (user: unknown) => string
  /** May this connection subscribe to `topic`? @default allow */
  authorizeSubscribe?: (conn: Connection<In, Out>, topic: string) => boolean | Promise<boolean>
  /** Browser origins allowed to connect. Requests without an Origin header (non-browsers) are always allowed. @default 'same-origin' */
  allowedOrigins?: OriginPolicy
  /**
   * Let the same-origin check compare the browser's `Origin` with the host a proxy reports in
   * `X-Forwarded-Host` (first value) or `Forwarded: host=` instead of `Host`. Turn it on only
   * when every request reaches this server through a proxy that sets (or strips) that header
   * itself, e.g. Next.js `rewrites()`, Apache without `ProxyPreserveHost`: a client that can
   * reach the server directly can send any `X-Forwarded-Host`, and the check would then admit
   * any origin it names. (Origin only protects browsers' ambient credentials, and a browser
   * cannot set `X-Forwarded-Host` on a WebSocket or a cross-site request, so the risk is a
   * direct client forging it, which it could do without a browser anyway; still, keep it off
   * unless a proxy rewrites `Host`.) It changes only the Origin check, nothing else.
   * @default false
   */
  trustForwardedHost?: boolean
  /** SSE heartbeat interval and the ping interval clients must keep on WebSocket. Keep under proxy idle timeouts (nginx: 60 s). 1 ms … 2^31−1 ms. @default 15_000 */
  heartbeatIntervalMs?: number
  /** A disconnected session can be resumed for this long; after that the client gets a fresh session. 1 ms … 2^31−1 ms (about 24.8 days). @default 60_000 */
  sessionTtlMs?: number
  /**
   * Most messages kept per session for replay after a reconnect: a count bound on top of the
   * byte and age bounds below, which are what normally applies. Integer ≥ 0, or Infinity. @default Infinity
   */
  replayWindow?: number
  /**
   * Most characters of serialized messages (≈ bytes for ASCII JSON) kept per session for replay.
   * A client that missed more than this gets `reset: 'replay_window_exceeded'`. A burst of 5,000
   * small messages (~80 characters each) fits several times over. Integer ≥ 0. @default 1_048_576
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
   * How many sequenced frames behind the newest a client may still resend after a lost reply:
   * the server remembers its nacks that far back, so a resent frame whose nack was lost is nacked
   * again, never acked. Keep it ≥ the clients' `maxQueuedMessages` (client default 1_000). A
   * resend from further back is nacked `bad_frame` (outcome unknown), never acked. Integer ≥ 1.
   * @default 1_000
   */
  resendWindow?: number
  /**
   * What the server processes share: fan-out of `broadcast()` / `publish()` across processes
   * (`createRedisBroker` from `surewire/redis`). Omit for one process. `realtime.close()` closes it.
   * @default an in-memory broker (this process only, no setup)
   */
  broker?: Broker
  /** Largest WebSocket frame / POST body accepted, in bytes (WebSocket: close 1009; POST: 413). Integer ≥ 64. @default 1_048_576 */
  maxFrameBytes?: number
  /**
   * Outgoing bytes one connection may have queued (written by the server, not yet taken by the
   * network: WebSocket `bufferedAmount`, the SSE response's buffer, the Fetch stream's queue).
   * A client that stops reading while the server keeps sending is closed as a slow consumer
   * past it (WebSocket close 4429; SSE: an `error` frame `slow_consumer`, then the stream is
   * cut) and resumes from the replay log when it reconnects — with `reset: 'replay_window_exceeded'`
   * when its backlog (up to this bound plus the OS socket buffers) was more than `replayWindowBytes`:
   * keep `replayWindowBytes` well above this if slow clients must resume without a reset. The replay written on (re)connect
   * is paced by the network and does not count. Integer ≥ 1024.
   * @default 4_194_304 (4 MiB)
   */
  maxBufferedBytes?: number
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
  trustForwardedHost: false,
  heartbeatIntervalMs: DEFAULT_HEARTBEAT_MS,
  sessionTtlMs: 60_000,
  replayWindow: Infinity,
  replayWindowBytes: 1_048_576,
  maxReplayBytes: 268_435_456,
  resendWindow: 1_000,
  maxFrameBytes: 1_048_576,
  maxBufferedBytes: 4_194_304,
  maxInboundPerSecond: Infinity,
} as const

/** Server options after validation, with every default applied. */
export type ResolvedServerOptions<In extends StandardSchemaV1 = StandardSchemaV1, Out extends StandardSchemaV1 = StandardSchemaV1> = Required<
  Omit<ServerOptions<In, Out>, 'authenticate' | 'authorizeSubscribe' | 'replayWindowMs' | 'broker'>
> &
  Pick<ServerOptions<In, Out>, 'authenticate' | 'authorizeSubscribe' | 'replayWindowMs' | 'broker'>

export function defaultIdentify(user: unknown): string {
  const id = (user as { id?: unknown } | null)?.id
  if (typeof id === 'string' || typeof id === 'number') return String(id)
  return JSON.stringify(user) ?? 'null'
}

type Check = (v: unknown) => string | undefined
const intIn =
  (min: number, max: number, unit = ''): Check =>
  (v) =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max ? undefined : `an integer from ${min} to ${max}${unit}`
const timeMs = intIn(1, MAX_TIMER_MS, ' ms (setTimeout cannot wait longer than 2^31−1 ms)')
const fn: Check = (v) => (typeof v === 'function' ? undefined : 'a function')

const checks: Record<string, Check> = {
  path: (v) => (typeof v === 'string' && v.startsWith('/') ? undefined : "a path starting with '/'"),
  authenticate: fn,
  identify: fn,
  authorizeSubscribe: fn,
  allowedOrigins: (v) =>
    v === 'same-origin' || v === '*' || typeof v === 'function' || (Array.isArray(v) && v.every((o) => typeof o === 'string'))
      ? undefined
      : "'same-origin', '*', an array of origins or a function",
  trustForwardedHost: (v) => (typeof v === 'boolean' ? undefined : 'true or false'),
  heartbeatIntervalMs: timeMs,
  sessionTtlMs: timeMs,
  replayWindow: (v) => (v === Infinity ? undefined : intIn(0, 10_000_000)(v)),
  replayWindowBytes: intIn(0, 2 ** 40, ' characters'),
  replayWindowMs: timeMs,
  maxReplayBytes: intIn(0, 2 ** 50, ' characters'),
  resendWindow: intIn(1, 10_000_000, ' frames'),
  broker: (v) =>
    v && typeof v === 'object' && ['fanOut', 'start', 'close'].every((k) => typeof (v as Record<string, unknown>)[k] === 'function')
      ? undefined
      : 'a broker (fanOut, start, close), e.g. createRedisBroker() from surewire/redis',
  maxFrameBytes: intIn(64, 2 ** 30, ' bytes'),
  maxBufferedBytes: intIn(1024, 2 ** 40, ' bytes'),
  maxInboundPerSecond: (v) => (v === Infinity || (typeof v === 'number' && v > 0 && Number.isFinite(v)) ? undefined : 'a number > 0, or Infinity (off)'),
}

/**
 * The one place server options are checked and defaulted. Throws a ConfigError naming the
 * option and its allowed range; `undefined` means "use the default".
 */
export function resolveServerOptions<In extends StandardSchemaV1, Out extends StandardSchemaV1>(
  options: ServerOptions<In, Out>,
): ResolvedServerOptions<In, Out> {
  for (const k of ['incoming', 'outgoing'] as const) {
    if (!isStandardSchema(options?.[k])) throw new ConfigError(`createRealtimeServer: \`${k}\` must be a Standard Schema (zod ≥ 3.24, valibot, arktype)`)
  }
  const defined: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(options)) {
    if (v === undefined || k === 'incoming' || k === 'outgoing') continue
    const why = checks[k]?.(v)
    if (why) throw new ConfigError(`createRealtimeServer: \`${k}\` must be ${why}; got ${describe(v)}`)
    defined[k] = v
  }
  return { ...serverDefaults, identify: defaultIdentify, ...defined, incoming: options.incoming, outgoing: options.outgoing } as ResolvedServerOptions<In, Out>
}

/** Options of `realtime.drain()`. */
export interface DrainOptions {
  /**
   * Time over which the drain closes this process's client transports, each at its own random
   * moment, so the clients reconnect to the other processes spread out instead of all at once (no
   * thundering herd on the load balancer, the other processes or Redis). Keep it shorter than the
   * orchestrator's grace period (Kubernetes `terminationGracePeriodSeconds`, default 30 s; PM2
   * `kill_timeout`). 0 closes them all at once. 0 … 2^31−1 ms.
   * @default 10_000
   */
  windowMs?: number
}

export const drainDefaults = { windowMs: 10_000 } as const

/** The one place drain options are checked and defaulted (a ConfigError names the option). */
export function resolveDrainOptions(options: DrainOptions = {}): Required<DrainOptions> {
  const windowMs = options.windowMs ?? drainDefaults.windowMs
  const why = intIn(0, MAX_TIMER_MS, ' ms')(windowMs)
  if (why) throw new ConfigError(`drain: \`windowMs\` must be ${why}; got ${describe(windowMs)}`)
  return { windowMs }
}

const describe = (v: unknown) => (typeof v === 'function' ? 'a function' : (JSON.stringify(v) ?? String(v)).slice(0, 60).replace(/^null$/, String(v)))
