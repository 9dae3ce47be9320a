import type { Connection } from '../connection'
import type { ResolvedServerOptions } from '../options'
import type { RealtimeRequest } from '../request'
import { now } from './clock'
import { SessionRegistry, type SessionLayer } from './registry'

export { now }

/** A live transport connection the sweep visits: SSE writes a heartbeat, WebSocket checks for silence. */
export interface LiveConnection {
  beat(now: number): void
}

/** Something the core must stop on close() (e.g. the node adapter's WebSocket server). */
export type Closer = () => Promise<void>

export type AuthResult = { ok: true; user: unknown } | { ok: false; failed?: boolean }

export interface CoreEvents {
  connection(conn: Connection): void
  error(err: unknown): void
}

/** How long a closed connection may take to finish before it is destroyed. */
export const CLOSE_GRACE_MS = 2_000


/**
 * Everything the adapters share: options, the session layer, authentication, the sweep.
 * One per RealtimeServer; the adapters reach it through `coreOf(server)`.
 */
export class ServerCore {
  readonly sessions: SessionRegistry
  readonly live = new Set<LiveConnection>()
  readonly #closers: Closer[] = []
  #sweep: ReturnType<typeof setInterval> | undefined
  #closed = false
  #draining = false

  constructor(
    readonly options: ResolvedServerOptions,
    private readonly events: CoreEvents,
  ) {
    this.sessions = new SessionRegistry(options, events)
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Draining or closed: new transports (SSE streams, WebSockets) are refused; POSTs are still served. */
  get draining(): boolean {
    return this.#draining || this.#closed
  }

  reportError(err: unknown): void {
    this.events.error(err)
  }

  /** Is `url` (path + query) the realtime path? */
  matches(url: string): boolean {
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    return path === this.options.path || path === this.options.path + '/'
  }

  /** Runs authenticate(); refused unless it returns a user. A throwing authenticate is reported and is "unavailable" (retryable). */
  async authenticate(req: RealtimeRequest): Promise<AuthResult> {
    const auth = this.options.authenticate
    if (!auth) return { ok: true, user: null }
    try {
      const user = await auth(req)
      return user === null || user === undefined || user === false ? { ok: false } : { ok: true, user }
    } catch (err) {
      this.events.error(err)
      return { ok: false, failed: true }
    }
  }

  onClose(closer: Closer): void {
    this.#closers.push(closer)
  }

  /** One timer for all connections: SSE heartbeats and WebSocket idle checks, on the monotonic clock. */
  startSweep(): void {
    if (this.#sweep || this.#closed) return
    this.#sweep = setInterval(() => {
      const t = now()
      for (const c of [...this.live]) c.beat(t)
    }, this.options.heartbeatIntervalMs)
    ;(this.#sweep as { unref?: () => void }).unref?.()
  }

  /**
   * The graceful drain: refuse new transports, move the clients one at a time at random moments
   * spread over `windowMs` (src/server/core/drain.ts; they reconnect elsewhere), release what is
   * left (`release()` of a shared session layer), then close. With the in-memory layer the
   * sessions end at the close.
   */
  async drain(windowMs: number): Promise<void> {
    if (this.#draining || this.#closed) return
    this.#draining = true
    const layer: SessionLayer = this.sessions
    await layer.drain(windowMs)
    if (layer.release) await layer.release().catch((err: unknown) => this.events.error(err))
    await this.close()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#sweep)
    this.sessions.endAll()
    await this.sessions.closeBroker().catch((err: unknown) => this.events.error(err))
    await Promise.all(this.#closers.splice(0).map((c) => c()))
  }
}

/**
 * Where a RealtimeServer keeps its core: a registered symbol, not a module variable, so a second
 * copy of this module (a bundler that inlines surewire into one route, as Next.js does, while the
 * custom server loads it from node_modules) still finds the core of an instance the other made.
 */
const CORE = Symbol.for('surewire.server.core')

export function bindCore(server: object, core: ServerCore): void {
  Object.defineProperty(server, CORE, { value: core, enumerable: false })
}

/** The core behind a RealtimeServer (internal: not exported from any entry). */
export function coreOf(server: object): ServerCore {
  const core = (server as { [CORE]?: ServerCore })[CORE]
  if (!core) throw new TypeError('not a RealtimeServer (create it with createRealtimeServer)')
  return core
}
