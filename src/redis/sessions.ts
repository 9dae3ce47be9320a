/**
 * The Redis session layer (contract S1; semantics in docs/RELIABILITY.md "More than one process").
 *
 * - The **home** (the process that created or adopted a session) holds its Session and the app's
 *   Connection. Its state lives in Redis, fenced by a home epoch: every outbound message is
 *   appended to the session's log stream (id allocated here) and every batch of client frames
 *   commits lastSeq / nacks / topics, before the message reaches a transport or the batch's acks
 *   are released. The writes of one tick of EVERY session homed here go out together in one
 *   script call (SYNC_LUA; a few when the tick is large), which answers per session. A script that finds another epoch
 *   means this process was fenced out: the session is dropped here (`replaced`).
 * - Every process subscribes to its own channel `<prefix>p:<process id>`; other processes forward
 *   requests for sessions homed here over it (gateway.ts), and this process answers on theirs.
 * - **Adoption**: a request for a session whose home no longer listens (PUBLISH reached 0
 *   subscribers) or released it takes it over with one compare-and-set (ADOPT_LUA, epoch + 1),
 *   rebuilds it from Redis, catches it up on fan-out messages from its saved position, and fires
 *   `connection` with `conn.adopted` (adopt.ts).
 * - **Outages**: the clients of sessions homed here are told when Redis stops taking their writes
 *   and when it takes them again; a session holding too much is handed back to Redis (outage.ts).
 * - The per-tick write-through is writer.ts.
 */
import { CloseCode, type ClientFrame, type TransportKind } from '../protocol'
import { BrokerError } from '../server/broker'
import type { ClusterHost, SessionCluster } from '../server/cluster/layer'
import type { Session } from '../server/session'
import type { Sink } from '../server/sink'
import { Adopter, type FanoutSource, type SessionMeta } from './adopt'
import { evalScript, handled, isShutdownFailure, send, unavailable, type Client } from './eval'
import { Gateway, type GatewayMessage } from './gateway'
import { Outages } from './outage'
import { HomeRelay } from './relay'
import { CREATE_LUA, END_LUA, RELEASE_LUA, TOUCH_LUA } from './scripts'
import { homed, SessionWriter, type Homed } from './writer'

export const sessionDefaults = {
  livenessIntervalMs: 1_000,
  forwardTimeoutMs: 10_000,
  maxHeldMessages: 10_000,
} as const

export interface RedisLink {
  main: Client
  sub: Client
  prefix: string
  broker: FanoutSource
  options: { livenessIntervalMs: number; forwardTimeoutMs: number; maxHeldMessages: number }
}

/** Messages to a home process. */
export type HomeMessage =
  | { k: 'att'; sid: string; gw: string; sk: string; kind: TransportKind; last: number | null; rid: string; n?: 1 }
  | { k: 'fr'; sid: string; gw: string; sk: string; f: ClientFrame[] }
  | { k: 'post'; sid: string; gw: string; rid: string; f: ClientFrame[] }
  | { k: 'det'; sid: string; sk: string }

const randomId = () => Array.from(globalThis.crypto.getRandomValues(new Uint8Array(9)), (b) => b.toString(16).padStart(2, '0')).join('')

export class RedisSessions implements SessionCluster {
  /** This process's id in Redis (home field, channel name). */
  readonly id = randomId()
  #host: ClusterHost | undefined
  readonly #homed = new Map<Session, Homed>()
  readonly #ending = new Set<Promise<unknown>>()
  readonly gateway: Gateway
  /** The home side of forwarding: transports on other processes attached to sessions homed here. */
  readonly relay: HomeRelay
  #early: string[] = []
  #timers: ReturnType<typeof setInterval>[] = []
  #closed = false
  /** release() or close() began: our own Redis clients are about to be closed; failures from that are no outage. */
  #stopping = false
  /** drain() began (or release()): sessions are handed over, none adopted here. */
  #draining = false
  readonly #writer: SessionWriter
  readonly #adopter: Adopter
  readonly #outages: Outages

  constructor(readonly link: RedisLink) {
    this.gateway = new Gateway(this)
    this.relay = new HomeRelay(this)
    this.#writer = new SessionWriter({
      main: link.main,
      position: () => link.broker.position,
      ttl: () => this.#ttl,
      keys: (sid) => this.#keys(sid),
      state: (session) => this.#homed.get(session),
      homed: () => this.#homed,
      closed: () => this.#closed,
      fenced: (session) => this.#fenced(session),
      tell: (session, st) => this.#outages.tell(session, st, true),
      recovered: (session, st) => this.#outages.tell(session, st, false),
      report: (err) => this.report(err),
    })
    this.#adopter = new Adopter({
      main: link.main,
      broker: link.broker,
      id: this.id,
      cluster: () => this.host,
      keys: (sid) => this.#keys(sid),
      ttl: () => this.#ttl,
      home: (session, st) => void this.#homed.set(session, st),
    })
    this.#outages = new Outages({
      main: link.main,
      maxHeldMessages: link.options.maxHeldMessages,
      keys: (sid) => this.#keys(sid),
      homed: () => this.#homed,
      state: (session) => this.#homed.get(session),
      active: () => this.#host !== undefined && !this.#closed,
      stopping: () => this.#stopping || this.#closed,
      forget: (session, err) => this.#forget(session, err),
      closeRelayed: () => {
        this.gateway.lostSubscription()
        this.relay.closeAll(CloseCode.goingAway, 'lost the broker subscription; resume')
      },
      report: (err) => this.report(err),
    })
  }

  get host(): ClusterHost {
    if (!this.#host) throw new Error('the Redis session layer is not bound to a server')
    return this.#host
  }

  channel(process: string): string {
    return `${this.link.prefix}p:${process}`
  }

  #keys(sid: string): string[] {
    const k = `${this.link.prefix}s:${sid}`
    return [k, `${k}:log`, `${k}:n`]
  }

  /** How long a session's keys live without a touch: its resume window, twice. */
  get #ttl(): string {
    return String(2 * this.host.options.sessionTtlMs)
  }

  /** Subscribe to this process's channel (before the broker is handed out, so no request reaches a deaf home). */
  async subscribe(): Promise<void> {
    const { sub } = this.link
    await sub.subscribe(this.channel(this.id), (raw: string) => (this.#host ? this.#onMessage(raw) : this.#early.push(raw)))
    // A lost subscription: transports relayed from other homes close (their clients resume); once back,
    // check every epoch (another process may have adopted a session while this one was deaf).
    sub.on('error', (err: unknown) => this.#outages.lostSubscription(err))
    sub.on('ready', () => {
      this.#outages.resubscribed()
      void this.#touchAll()
    })
  }

  bind(host: ClusterHost): void {
    if (this.#host) throw new Error('one Redis broker per RealtimeServer: create a broker for each server')
    this.#host = host
    for (const raw of this.#early.splice(0)) this.#onMessage(raw)
    const every = (ms: number, fn: () => Promise<void>) => {
      const t = setInterval(() => void fn().catch(() => {}), ms)
      ;(t as { unref?: () => void }).unref?.()
      this.#timers.push(t)
    }
    every(this.link.options.livenessIntervalMs, () => this.#liveness())
    every(Math.max(1_000, host.options.sessionTtlMs / 2), () => this.#touchAll())
  }

  attach(sink: Sink, sid: string, last: number | undefined, user: unknown): Promise<Session | undefined> {
    return this.gateway.attach(sink, sid, last, user)
  }

  find(sid: string): Promise<Session | undefined> {
    return this.gateway.find(sid)
  }

  detach(session: Session, sink: Sink): boolean {
    return this.gateway.detach(session, sink)
  }

  /** Whether `session` is homed here (its writes go through this layer). */
  homes(session: Session): boolean {
    return this.#homed.has(session)
  }

  // ---------------------------------------------------------------- home: write-through

  async created(session: Session): Promise<void> {
    const user = JSON.stringify(session.user) ?? 'null'
    const args = [this.id, session.conn.id, this.host.options.identify(session.user), user, this.#ttl, this.link.broker.position]
    await unavailable(evalScript(this.link.main, CREATE_LUA, this.#keys(session.sid).slice(0, 1), args))
    this.#homed.set(session, homed('1'))
  }

  append(session: Session, id: number, text: string, payload: string, topic: string | undefined): Promise<void> {
    const st = this.#homed.get(session)
    if (!st) return handled(Promise.reject(new BrokerError('session_moved', 'this session is no longer homed on this process')))
    const max = this.link.options.maxHeldMessages
    if (st.pending.length >= max) {
      return handled(Promise.reject(new BrokerError('broker_unavailable', `Redis has not taken ${max} messages of this session (maxHeldMessages); not queued`)))
    }
    const p = new Promise<void>((resolve, reject) => st.pending.push({ id, text, payload, topic, resolve, reject }))
    this.#writer.queue(session, st)
    return handled(p)
  }

  post(session: Session, id: number, text: string, payload: string, topic: string | undefined): void {
    const st = this.#homed.get(session)
    if (!st) return // no longer homed here: its new home (or adopter, from the saved fan-out position) delivers it
    // The bound applies while Redis fails this session's writes (st.told); a healthy Redis takes a large tick (a catch-up) in its next batch.
    if (st.told && st.pending.length >= this.link.options.maxHeldMessages) return this.#outages.handBack(session, st)
    st.pending.push({ id, text, payload, topic, resolve: undefined, reject: undefined })
    this.#writer.queue(session, st)
  }

  /**
   * Commit a handled batch's inbound state; resolves true once Redis holds it (its acks may go
   * out), false when the session is no longer homed here. A failed commit is retried (with
   * backoff) until Redis answers: nothing else would ever release those acks, and a WebSocket
   * client whose in-flight frames are never acked stops sending (it resends only on reconnect).
   */
  async commit(session: Session): Promise<boolean> {
    for (let failures = 0; ; failures++) {
      const st = this.#homed.get(session)
      if (!st || this.#closed || session.ended) return false
      st.inbound = true
      if (await this.#writer.written(session, st)) return true
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** failures, 2_000)))
    }
  }

  /** The broker lost Redis (`down`) or has it back: every session's clients are told, once per outage (outage.ts). */
  outage(down: boolean): void {
    this.#outages.outage(down)
  }

  /** This process's fan-out reader skipped messages: every session homed here is told (outage.ts). */
  fanoutLost(): void {
    this.#outages.fanoutLost()
  }

  /** A transport just attached (hello and replay written): while its session is degraded, it is told so too. */
  attached(session: Session, sink: Sink): void {
    this.#outages.attached(session, sink)
  }

  /** Another process holds a newer epoch: this one is no longer the home. */
  #fenced(session: Session): void {
    this.#forget(session, new BrokerError('session_moved', 'this session moved to another process'))
    session.drop(CloseCode.replaced, 'the session moved to another process')
  }

  #forget(session: Session, err: unknown): void {
    const st = this.#homed.get(session)
    this.#homed.delete(session)
    if (this.host.sessions.get(session.sid) === session) this.host.sessions.delete(session.sid)
    for (const b of st?.pending.splice(0) ?? []) b.reject?.(err)
  }

  ended(session: Session): void {
    const st = this.#homed.get(session)
    if (!st) return
    this.#homed.delete(session)
    const end = st.flight
      .then(() => {
        for (const b of st.pending.splice(0)) b.resolve?.() // the session is over: nothing more to hold
        return evalScript(this.link.main, END_LUA, this.#keys(session.sid), [st.ep])
      })
      .catch((err: unknown) => this.#closed || this.report(err))
      .finally(() => this.#ending.delete(end))
    this.#ending.add(end)
  }

  /** Renew the keys of every session homed here; drop those another process adopted meanwhile. */
  async #touchAll(): Promise<void> {
    if (!this.#host || this.#closed) return
    await Promise.all(
      [...this.#homed].map(async ([session, st]) => {
        const ok = await evalScript(this.link.main, TOUCH_LUA, this.#keys(session.sid), [st.ep, this.#ttl]).catch(() => 1)
        if (Number(ok) !== 1 && this.#homed.get(session) === st) this.#fenced(session)
      }),
    )
  }

  // ---------------------------------------------------------------- adoption and release

  /** The hash fields routing needs; undefined when there is no such session (adopt.ts). */
  meta(sid: string): Promise<SessionMeta | undefined> {
    return this.#adopter.meta(sid)
  }

  /** Take the session over (one per sid at a time in this process). 'moved': someone else did; look again (adopt.ts). */
  adopt(sid: string, meta: SessionMeta): Promise<Session | undefined | 'moved'> {
    return this.#adopter.adopt(sid, meta)
  }

  /** The drain began: no adoption here from now on (gateway.ts refuses instead; retried elsewhere). */
  draining(): void {
    this.#draining = true
  }

  get isDraining(): boolean {
    return this.#draining
  }

  /** The transports this process relays for sessions homed elsewhere (the drain closes them one by one). */
  relayed(): Sink[] {
    return this.gateway.sinks()
  }

  /**
   * Hand one session homed here over (drain, release): flush what it owes, mark it released (the
   * next process that sees a request for it adopts it at once), forget it here and close its
   * transports with `code` so its client resumes elsewhere.
   */
  async handOver(session: Session, code: number, reason: string): Promise<void> {
    const st = this.#homed.get(session)
    if (!st) return
    await st.flight
    await this.#writer.written(session, st)
    await evalScript(this.link.main, RELEASE_LUA, this.#keys(session.sid).slice(0, 1), [st.ep]).catch((err: unknown) => this.report(err))
    if (this.#homed.get(session) !== st) return // fenced or ended meanwhile: nothing of ours to close
    this.#forget(session, new BrokerError('session_moved', 'the session was released'))
    session.drop(code, reason)
  }

  async release(): Promise<void> {
    this.#stopping = true
    this.#draining = true
    this.gateway.closeAll(CloseCode.goingAway, 'this server is shutting down')
    await Promise.all([...this.#homed.keys()].map((session) => this.handOver(session, CloseCode.goingAway, 'this server is shutting down')))
  }

  async close(): Promise<void> {
    this.#stopping = true
    for (const t of this.#timers.splice(0)) clearInterval(t)
    await Promise.allSettled([...this.#ending, this.#writer.idle, ...[...this.#homed.values()].map((st) => st.flight)])
    this.#closed = true
    this.gateway.close()
  }

  /** A crashed process (test hook): stop everything at once, flush nothing, release nothing. */
  crash(): void {
    this.#closed = true
    for (const t of this.#timers.splice(0)) clearInterval(t)
    this.#writer.stop()
    // A dead process runs no more handlers: its sessions stop here (nothing is written anywhere).
    for (const session of [...this.#homed.keys()]) session.drop(CloseCode.goingAway, 'crashed')
    this.#homed.clear()
    this.gateway.close()
  }

  // ---------------------------------------------------------------- pub/sub

  /** Publish to a process's channel; resolves with how many processes heard it (0: that process is gone). */
  async publish(process: string, message: HomeMessage | GatewayMessage): Promise<number> {
    return Number(await unavailable(send(this.link.main, ['PUBLISH', this.channel(process), JSON.stringify(message)])))
  }

  /**
   * Report an error on the server's `error` event, except a failed Redis call while this process
   * is shutting down (drain / close): closing our own clients ("Disconnects client", "The client is
   * closed") is not an outage.
   */
  report(err: unknown): void {
    if (this.#stopping && isShutdownFailure(err)) return
    this.host.error(err)
  }

  #onMessage(raw: string): void {
    let m: HomeMessage | GatewayMessage
    try {
      m = JSON.parse(raw) as HomeMessage | GatewayMessage
    } catch (err) {
      return this.host.error(err)
    }
    if (m.k === 'att') return this.relay.attach(m)
    if (m.k === 'fr') return this.relay.frames(m)
    if (m.k === 'post') return void this.relay.post(m).catch((err: unknown) => this.report(err))
    if (m.k === 'det') return this.relay.detached(m.sk)
    this.gateway.onMessage(m)
  }

  /** Transports whose other side (home or gateway) stopped listening are closed or detached. */
  async #liveness(): Promise<void> {
    if (this.#closed) return
    const gateways = this.relay.gateways()
    const homes = this.gateway.homes()
    const all = [...new Set([...gateways, ...homes])]
    if (all.length === 0) return
    const res = (await send(this.link.main, ['PUBSUB', 'NUMSUB', ...all.map((p) => this.channel(p))])) as unknown[]
    const dead = new Set(all.filter((_, i) => Number(res[2 * i + 1]) === 0))
    if (dead.size === 0) return
    this.relay.gatewaysGone(dead)
    this.gateway.homesGone(dead)
  }
}
