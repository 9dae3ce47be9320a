import { ConfigError } from '../errors'
import { isStandardSchema, type StandardSchemaV1 } from '../schema'
import { fullJitterBackoff, type Backoff } from './backoff'
import type { KeyValueStorage } from './memory'
import type { FetchLike } from './sse'
import type { Codec } from './codec'
import type { ShareTabsOptions } from './share/types'
import type { TransportKind } from './transport'
import type { EndpointPaths } from './url'
import { MAX_TIMER_MS } from './time'
import type { WebSocketConstructor } from './websocket'

/** Where the client hears `online`, `offline` and "tab became visible". */
export interface LifecycleSource {
  subscribe(listener: (event: 'online' | 'offline' | 'visible') => void): () => void
  /** Is the page hidden now? Hidden tabs throttle timers, so a late pong is not taken as a dead connection. */
  hidden?(): boolean
}

export interface ClientOptions<In extends StandardSchemaV1, Out extends StandardSchemaV1> {
  /**
   * One base URL for every transport: `http(s)://` or `ws(s)://` (the other is derived:
   * `https` ↔ `wss`), or a relative URL resolved against the page in browsers.
   */
  url: string | URL
  /** Schema of server → client messages (zod, valibot, arktype: any Standard Schema). Messages that fail it go to the `invalid` event. */
  incoming: In
  /** Schema of client → server messages; `send()` rejects with a ValidationError before anything is queued. */
  outgoing: Out
  /**
   * WebSocket constructor. Needed on Node 20 (pass `WebSocket` from the `ws` package);
   * without one and without a global WebSocket the client uses SSE + POST.
   * @default globalThis.WebSocket
   */
  WebSocket?: WebSocketConstructor
  /** fetch implementation for SSE and POST. @default globalThis.fetch */
  fetch?: FetchLike
  /**
   * Token provider, called before every connection attempt. Sent as `access_token` in the
   * WebSocket query string (browsers cannot set WebSocket headers) and as
   * `Authorization: Bearer` on SSE and POST.
   */
  token?: () => string | undefined | Promise<string | undefined>
  /** Transports to use, in order of preference. `['sse']` forces SSE + POST. @default ['websocket', 'sse'] */
  transports?: TransportKind[]
  /** Per-transport endpoint overrides, resolved against `url`. */
  paths?: EndpointPaths
  /**
   * An attempt that has not received the server's hello by then fails; the time covers the `token()`
   * provider too, so a provider that never settles is a failed attempt (reported on `error`, retried).
   * `Infinity` means never (every time option is clamped to 2^31 − 1 ms, the most `setTimeout` honours).
   * @default 10_000
   */
  connectTimeoutMs?: number
  /** If WebSocket has not opened after this long, SSE starts alongside it; the first ready wins. @default 1_500 */
  sseHeadStartMs?: number
  /** Consecutive WebSocket failures before an open (refused, timed out, silent) before the client moves to SSE. @default 1 */
  wsFailuresBeforeFallback?: number
  /** How long a blocked WebSocket is remembered for this URL (0 disables memory). @default 3_600_000 (1 hour) */
  rememberFallbackMs?: number
  /** While on SSE, how often to try WebSocket again in the background. 0 disables probing. @default 30_000 */
  wsProbeIntervalMs?: number
  /** Where the blocked-WebSocket memory lives; `null` disables it. @default localStorage in browsers, process memory elsewhere */
  storage?: KeyValueStorage | null
  /**
   * WebSocket ping interval; never more than the server's heartbeat interval. Keep it under every
   * proxy's idle timeout (nginx `proxy_read_timeout`, 60 s by default). `0` turns pinging off: no
   * half-open detection, idle sockets get cut by such proxies, and the reference server closes a
   * socket that sent nothing for 3 × its heartbeat interval. @default 20_000
   */
  pingIntervalMs?: number
  /** A ping with no frame back within this time means the connection is dead (half-open). @default 10_000 */
  pongTimeoutMs?: number
  /** SSE silence (no frame, no heartbeat) beyond this means the stream is dead. @default 2.5 × server heartbeat interval */
  sseSilenceTimeoutMs?: number
  /**
   * A POST (SSE transport) with no answer by then counts as a lost connection (reason `post_timeout`):
   * SSE heartbeats keep the stream looking healthy while a stalled POST would hold back every send.
   * Queued sends go out again after the reconnect. @default 15_000
   */
  postTimeoutMs?: number
  /** Delay before reconnect attempt n. @default fullJitterBackoff(500, 30_000) */
  backoff?: Backoff
  /**
   * A connection that stayed open this long resets the backoff attempt counter and clears a refusal
   * that still stands (a refused POST or credentials refused on an open connection; a hello alone does
   * not, so an open → refused → open loop keeps backing off). @default 5_000
   */
  healthyAfterMs?: number
  /**
   * Give up after this many failed attempts in a row (status `closed`, reason `gave_up`). An attempt that
   * never opened, or an open connection the server refused, is a failed attempt; a drop of an open
   * connection is not (with `maxAttempts: 1` a dropped connection still gets one reconnect attempt). @default Infinity
   */
  maxAttempts?: number
  /**
   * After an auth failure (close 4401, error code `unauthorized`, HTTP 401 on SSE / POST — never an HTTP
   * status on the WebSocket upgrade, which falls back to SSE), retry this many times with a fresh token
   * before stopping with `auth_failed`. @default 1
   */
  authRetries?: number
  /** Bound on messages waiting for the server's ack. @default 1_000 */
  maxQueuedMessages?: number
  /** Bound on bytes waiting for the server's ack. @default 1_048_576 (1 MiB) */
  maxQueuedBytes?: number
  /** Largest message (UTF-8 JSON bytes) `send()` accepts; the server's own limit applies too. @default 1_048_576 (1 MiB) */
  maxMessageBytes?: number
  /** Source of online/offline/visible events. @default window + document in browsers, none elsewhere */
  lifecycle?: LifecycleSource | null
  /**
   * The wire protocol. Leave unset for the surewire protocol (docs/PROTOCOL.md: resume,
   * acks, exactly-once). `compat({ ping, isPong })` talks plain JSON to an existing
   * backend's WebSocket / SSE / POST endpoints, without those guarantees. @default surewire
   */
  protocol?: Codec
  /**
   * Browser tabs of one profile that create a client with the same share key (URL, transports,
   * token or `key`: see `ShareTabsOptions.key`) share one connection: one leader tab holds it, the
   * others talk to it over a BroadcastChannel, and another tab takes over within about 2 s when the
   * leader closes, crashes, navigates away or is frozen. Each tab's client behaves as if it had its
   * own connection (docs/TABS.md). Without sharing, every tab holds a connection of its own, and on
   * SSE over HTTP/1.1 the browser's limit of 6 connections per host freezes the sixth tab. `false`
   * turns it off; it is off anyway where Web Locks or BroadcastChannel are missing (Node, workers)
   * and with a custom `protocol`. An object sets the identity key or injects the platform APIs.
   * @default true
   */
  shareTabs?: boolean | ShareTabsOptions
}

/**
 * Default values of every numeric option, in one place. `sseSilenceTimeoutMs` has none: it follows the
 * server's heartbeat (2.5 × `hello.hb`, `DEFAULT_HEARTBEAT_MS` from protocol.ts before the first hello).
 */
export const clientDefaults = {
  transports: ['websocket', 'sse'] as readonly TransportKind[],
  connectTimeoutMs: 10_000,
  sseHeadStartMs: 1_500,
  wsFailuresBeforeFallback: 1,
  rememberFallbackMs: 3_600_000,
  wsProbeIntervalMs: 30_000,
  pingIntervalMs: 20_000,
  pongTimeoutMs: 10_000,
  healthyAfterMs: 5_000,
  postTimeoutMs: 15_000,
  maxAttempts: Infinity,
  authRetries: 1,
  maxQueuedMessages: 1_000,
  maxQueuedBytes: 1_048_576,
  maxMessageBytes: 1_048_576,
} as const

type Target = { addEventListener(t: string, l: (e: { type: string }) => void): void; removeEventListener(t: string, l: (e: { type: string }) => void): void }

/** Browser online/offline/visibilitychange, or null outside browsers. */
export function browserLifecycle(): LifecycleSource | null {
  const w = globalThis as unknown as Partial<Target> & { document?: Target & { visibilityState?: string } }
  if (typeof w.addEventListener !== 'function' || !w.document) return null
  const doc = w.document
  return {
    hidden: () => doc.visibilityState === 'hidden',
    subscribe(listener) {
      // One listener for the three events: the event's type tells them apart.
      const on = (e: { type: string }) => (e.type === 'visibilitychange' ? doc.visibilityState === 'visible' && listener('visible') : listener(e.type as 'online' | 'offline'))
      const events = [[w, 'online'], [w, 'offline'], [doc, 'visibilitychange']] as const
      for (const [t, type] of events) t.addEventListener!(type, on)
      return () => {
        for (const [t, type] of events) t.removeEventListener!(type, on)
      }
    },
  }
}

export const defaultBackoff: Backoff = fullJitterBackoff()

/** Flags of {@link checks} (a `const enum`: esbuild writes the numbers in, a `const` imported across modules it would not). */
const enum C {
  /** The smallest value is 1 (else 0). */
  MIN1 = 1,
  /** An integer (or Infinity). */
  INT = 2,
  /** A timer delay: clamped to 2^31 − 1 ms, so `Infinity` means "never" rather than `setTimeout`'s 1 ms. */
  MS = 4,
  /** A function. */
  FN = 8,
  /** A Standard Schema (required). */
  SCHEMA = 16,
}

/** What every checked option must be, in the order they are checked: a kind, or a numeric range (0 or 1 to Infinity). */
const checks: Record<string, number> = {
  incoming: C.SCHEMA,
  outgoing: C.SCHEMA,
  token: C.FN,
  connectTimeoutMs: C.MIN1 | C.MS,
  sseHeadStartMs: C.MS,
  wsFailuresBeforeFallback: C.MIN1 | C.INT,
  rememberFallbackMs: 0,
  wsProbeIntervalMs: C.MS,
  pingIntervalMs: C.MS,
  pongTimeoutMs: C.MIN1 | C.MS,
  sseSilenceTimeoutMs: C.MIN1 | C.MS,
  postTimeoutMs: C.MIN1 | C.MS,
  healthyAfterMs: C.MS,
  maxAttempts: C.MIN1 | C.INT,
  authRetries: C.INT,
  maxQueuedMessages: C.MIN1 | C.INT,
  maxQueuedBytes: C.MIN1,
  maxMessageBytes: C.MIN1,
  backoff: C.FN,
  fetch: C.FN,
  WebSocket: C.FN,
}

/** The value a ConfigError reports: numbers as they are, the rest as (short) JSON or its type. */
function got(v: unknown): string {
  try {
    return typeof v === 'number' ? String(v) : (JSON.stringify(v)?.slice(0, 60) ?? typeof v)
  } catch {
    return typeof v // a cycle, a BigInt
  }
}

/** The one shape of an option's ConfigError: the option, what it must be, the value it got. */
function bad(name: string, must: string, v: unknown): ConfigError {
  return new ConfigError(`\`${name}\` ${must}; got ${got(v)}`)
}

/**
 * The one place options are checked (a ConfigError naming the option, what it must be — the range of
 * numeric options — and the value it got) and defaulted (from {@link clientDefaults}); timer delays
 * are clamped here too.
 */
export function resolveClientOptions<O extends ClientOptions<StandardSchemaV1, StandardSchemaV1>>(options: O) {
  if (!options || typeof options !== 'object') throw new ConfigError('options object is required')
  for (const k of Object.keys(checks)) {
    const f = checks[k]!
    const v = (options as Record<string, unknown>)[k]
    if (f & C.SCHEMA ? isStandardSchema(v) : v === undefined || (f & C.FN ? typeof v === 'function' : typeof v === 'number' && v >= (f & C.MIN1) && (v === Infinity || !(f & C.INT) || Number.isInteger(v)))) continue
    throw bad(
      k,
      f & C.SCHEMA
        ? `must be a Standard Schema${(typeof process === 'object' && process.env.NODE_ENV !== 'production') ? ` (zod ≥ 3.24, valibot, arktype), e.g. ${k}: z.object({ type: z.literal('chat'), text: z.string() })` : ''}`
        : f & C.FN
          ? `must be a function${(typeof process === 'object' && process.env.NODE_ENV !== 'production') && k === 'token' ? ' that returns the token (called before every connect), e.g. token: () => getAccessToken()' : ''}`
          : `must be ${f & C.INT ? 'an integer' : f & C.MS ? 'a number of milliseconds' : 'a number'} in [${f & C.MIN1}, Infinity]${(typeof process === 'object' && process.env.NODE_ENV !== 'production') && f & C.MS ? ' (Infinity: never; delays above 2^31 − 1 ms are clamped to it)' : ''}`,
      v,
    )
  }
  const transports = options.transports
  if (transports !== undefined && (!Array.isArray(transports) || !transports.length || transports.some((t) => t !== 'websocket' && t !== 'sse'))) {
    throw bad('transports', `lists 'websocket' and/or 'sse'${(typeof process === 'object' && process.env.NODE_ENV !== 'production') ? ", e.g. ['websocket', 'sse'] (the default) or ['sse']" : ''}`, transports)
  }
  return withDefaults(options)
}

/** Options the constructor consumes (endpoints, inbox, fallback memory) and no one reads again. */
const constructorOnly = ['url', 'paths', 'incoming', 'storage'] as const
type ConstructorOnly = (typeof constructorOnly)[number]

/**
 * The options with defaults for what is unset (or undefined). The defaults are inherited from
 * `clientDefaults` rather than copied, so each client holds only the options it was given (less those only the constructor reads).
 */
function withDefaults<T extends object>(options: T): Omit<T, ConstructorOnly> & typeof clientDefaults {
  const out = Object.create(clientDefaults) as Record<string, unknown>
  for (const k of Object.keys(options)) {
    const v = (options as Record<string, unknown>)[k]
    if (v !== undefined && !(constructorOnly as readonly string[]).includes(k)) out[k] = checks[k]! & C.MS ? Math.min(v as number, MAX_TIMER_MS) : v
  }
  return out as never
}
