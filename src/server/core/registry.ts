import { ConfigError, ValidationError } from '../../errors'
import type { Connection } from '../connection'
import type { ResolvedServerOptions } from '../options'
import { createMemoryBroker, BrokerError, type Broker, type FanOut } from '../broker'
import { Session, type SessionHost } from '../session'
import type { Sink } from '../sink'
import { CLUSTER, type ClusterFactory, type SessionCluster } from '../cluster/layer'
import { DRAIN_CLOSE, spreadOver } from './drain'

/** Parameters of a transport connection, read from its request. */
export interface OpenRequest {
  sid: string | undefined
  last: number | undefined
  user: unknown
}

/**
 * The session layer as the edges see it (contract C4): every call is await-able, so a
 * broker-backed implementation (Redis) can sit behind it. This one keeps sessions in memory.
 */
export interface SessionLayer {
  /** Find or create the session for a new transport connection and attach `sink` (hello + replay are written to it). */
  open(sink: Sink, req: OpenRequest): Promise<Session>
  /** The session a POST names, if it exists. */
  find(sid: string): Promise<Session | undefined>
  /** A transport connection ended (fire-and-forget); the session starts its own resume window. */
  detach(session: Session, sink: Sink): void
  /**
   * Move every client of this process elsewhere, one at a time at random moments over `windowMs`
   * (no thundering herd): each session homed here is handed over (shared broker: flushed and
   * marked released, so the next process adopts it) and its transports closed with 1012; each
   * transport relayed here for a session homed elsewhere is closed with 1012. Resolves when all moved.
   */
  drain(windowMs: number): Promise<void>
  /**
   * Stop being the home of every session this process holds, after flushing what they owe
   * (contract S1), so the next process a client reaches adopts them at once. Absent when sessions
   * are not shared (the in-memory layer): a drained process's sessions then end with it.
   */
  release?(): Promise<void>
}

export interface RegistryEvents {
  connection(conn: Connection): void
  error(err: unknown): void
}

export class SessionRegistry implements SessionLayer {
  readonly sessions = new Map<string, Session>()
  readonly #host: SessionHost
  readonly #broker: Broker
  /** The shared session layer of a broker that has one (Redis); undefined with the in-memory broker. */
  readonly #cluster: SessionCluster | undefined

  constructor(
    private readonly options: ResolvedServerOptions,
    private readonly events: RegistryEvents,
  ) {
    const o = options
    this.#host = {
      replay: {
        maxMessages: o.replayWindow,
        maxBytes: o.replayWindowBytes,
        maxAgeMs: o.replayWindowMs ?? 2 * o.sessionTtlMs,
        maxTotalBytes: o.maxReplayBytes,
        used: { bytes: 0 },
      },
      resendWindow: o.resendWindow,
      maxInboundPerSecond: o.maxInboundPerSecond,
      validateOutgoing: (m) => this.validateOutgoing(m),
      validateIncoming: (m) => o.incoming['~standard'].validate(m),
      authorizeSubscribe: (conn, topic) => (o.authorizeSubscribe ? o.authorizeSubscribe(conn as Connection, topic) : true),
      onEnd: (s) => {
        this.sessions.delete(s.sid)
        this.#cluster?.ended(s)
      },
      onError: (err) => this.events.error(err),
    }
    this.#broker = o.broker ?? createMemoryBroker()
    const factory = (this.#broker as { [CLUSTER]?: ClusterFactory })[CLUSTER]
    this.#cluster = factory?.call(this.#broker, {
      options: o,
      sessionHost: this.#host,
      sessions: this.sessions,
      newSession: (user, init) => new Session(this.#host, user, init),
      announce: (conn) => this.events.connection(conn),
      hello: () => this.#hello(),
      error: (err) => this.events.error(err),
    })
    if (this.#cluster) this.#host.store = this.#cluster
    const started = this.#broker.start({
      deliver: (m) => this.#deliverHere(m),
      status: (s) => {
        if (!s.ok) this.events.error(new BrokerError(s.reason ?? 'broker_unavailable', s.detail ?? 'the broker is unavailable'))
      },
    })
    if (started) started.catch((err: unknown) => this.events.error(err))
  }

  async open(sink: Sink, req: OpenRequest): Promise<Session> {
    const o = this.options
    let session = req.sid ? this.sessions.get(req.sid) : undefined
    if (session && o.identify(session.user) !== o.identify(req.user)) session = undefined
    if (!session && req.sid && this.#cluster) {
      // Not homed here: attach through its home process, or adopt it (cluster layer).
      const elsewhere = await this.#cluster.attach(sink, req.sid, req.last, req.user)
      if (elsewhere) return this.#cluster.attached(elsewhere, sink), elsewhere
    }
    const isNew = !session
    if (!session) {
      session = new Session(this.#host, req.user)
      if (this.#cluster) await this.#cluster.created(session)
      this.sessions.set(session.sid, session)
    }
    if (isNew) this.events.connection(session.conn as unknown as Connection)
    const hello = this.#hello()
    // A client that asked to resume a session we do not have is told so (hello.reset) and can refetch.
    const resume = req.sid === undefined ? 'none' : isNew ? 'unknown' : (req.last ?? 0)
    session.attach(sink, hello, resume)
    this.#cluster?.attached(session, sink)
    return session
  }

  #hello() {
    return { hb: this.options.heartbeatIntervalMs, maxFrameBytes: this.options.maxFrameBytes, batch: true } // batch: WebSocket messages may be arrays of frames (B1)
  }

  async find(sid: string): Promise<Session | undefined> {
    return this.sessions.get(sid) ?? this.#cluster?.find(sid)
  }

  detach(session: Session, sink: Sink): void {
    if (this.#cluster?.detach(session, sink)) return
    session.detach(sink, this.options.sessionTtlMs)
  }

  drain(windowMs: number): Promise<void> {
    const cluster = this.#cluster
    cluster?.draining()
    const movers = (): (Session | Sink)[] => [...this.sessions.values(), ...(cluster?.relayed() ?? [])]
    const move = (m: Session | Sink) => {
      if (!(m instanceof Session)) return m.close(DRAIN_CLOSE.code, DRAIN_CLOSE.reason)
      if (cluster) return cluster.handOver(m, DRAIN_CLOSE.code, DRAIN_CLOSE.reason)
      m.sink?.close(DRAIN_CLOSE.code, DRAIN_CLOSE.reason) // in-memory: nowhere to hand it; the client gets a new session elsewhere
      m.probe?.close(DRAIN_CLOSE.code, DRAIN_CLOSE.reason)
    }
    return spreadOver(movers, windowMs, move, (err) => this.events.error(err))
  }

  /**
   * Stop being home for every session (drain): with a shared broker they are flushed, marked
   * released and their transports closed, so clients resume on another process with nothing lost.
   * With the in-memory broker there is nowhere to hand them: resolves at once (close() ends them).
   */
  async release(): Promise<void> {
    await this.#cluster?.release()
  }

  /**
   * Send to every session, or to those subscribed to `topic`, on every process: through the
   * broker, which hands it back to each process (this one included) in one order. Resolves when
   * the broker holds it and has handed it to this process's sessions (see `Broker.fanOut`); a
   * rejection is also reported on `error`, so an ignored promise never becomes an unhandled rejection.
   */
  deliver(message: unknown, topic?: string): Promise<void> {
    const payload = JSON.stringify(this.validateOutgoing(message))
    const p = Promise.resolve(this.#broker.fanOut(topic === undefined ? { payload } : { topic, payload }))
    p.catch((err: unknown) => this.events.error(err))
    return p
  }

  /** A fanned-out message from the broker (any process): to this process's matching sessions. */
  #deliverHere(m: FanOut): void {
    for (const s of this.sessions.values()) if (m.topic === undefined || s.topics.has(m.topic)) s.fanOut(m.payload, m.topic) // the msg frame names its topic (docs/PROTOCOL.md)
  }

  endAll(): void {
    for (const s of [...this.sessions.values()]) s.end('server_closed')
  }

  /** Stop the broker (after endAll). */
  async closeBroker(): Promise<void> {
    await this.#cluster?.close()
    await this.#broker.close()
  }

  validateOutgoing(message: unknown): unknown {
    const r = this.options.outgoing['~standard'].validate(message)
    if (r instanceof Promise) throw new ConfigError('the `outgoing` schema validates asynchronously; the server needs a synchronous schema for send()')
    if (r.issues) throw new ValidationError(r.issues, 'outgoing')
    return r.value
  }
}
