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
 *   `connection` with `conn.adopted`.
 */
import { CloseCode, type ClientFrame, type NoticeFrame, type ServerFrame, type TransportKind } from '../protocol'
import { BrokerError, type FanOut } from '../server/broker'
import type { ClusterHost, SessionCluster } from '../server/cluster/layer'
import type { Session, SessionInit } from '../server/session'
import type { Sink } from '../server/sink'
import { compareIds, evalScript, fieldsOf, send, type Client } from './eval'
import { Gateway, type GatewayMessage } from './gateway'
import { HomeRelay } from './relay'
import { ADOPT_LUA, CREATE_LUA, END_LUA, RELEASE_LUA, TOUCH_LUA } from './scripts'
import { logMessages, type LogEntry } from './log'
import { homed, SessionWriter, type Homed } from './writer'

export const sessionDefaults = {
  livenessIntervalMs: 1_000,
  forwardTimeoutMs: 10_000,
  maxHeldMessages: 10_000,
} as const


/** What the layer uses of the broker: the fan-out position and range, for adoption catch-up. */
export interface FanoutSource {
  readonly position: string
  fanoutRange(from: string, to: string): Promise<FanOut[]>
  /** The stream was trimmed past `from`: a catch-up from there would skip messages. */
  lostAfter(from: string): Promise<boolean>
}

export interface RedisLink {
  main: Client
  sub: Client
  prefix: string
  broker: FanoutSource
  options: { livenessIntervalMs: number; forwardTimeoutMs: number; maxHeldMessages: number }
}

/** What a session's hash says (gateway routing and adoption). */
export interface SessionMeta {
  home: string
  ep: string
  released: boolean
  /** identify(user) of the session's owner. */
  ik: string
  /** The user, as JSON. */
  u: string
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
  readonly #adopting = new Map<string, Promise<Session | undefined | 'moved'>>()
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
  /** This process's channel subscription is up (a loss is handled once, until it is back). */
  #subscribed = true
  readonly #writer: SessionWriter

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
      tell: (session, st) => this.#tell(session, st, true),
      recovered: (session, st) => this.#tell(session, st, false),
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

  /**
   * The subscription dropped (Redis restarted, or it closed the connection: e.g. past
   * `client-output-buffer-limit pubsub`). node-redis resubscribes on its own; what was published
   * to this channel meanwhile is lost, so every transport that depends on it closes and its client
   * resumes (from its last id, resending what was not acked): those relayed from other homes
   * (their writes) and those relayed to other processes from sessions homed here (their frames,
   * detaches). Reported once per loss.
   */
  #lostSubscription(err: unknown): void {
    if (!this.#subscribed) return
    this.#subscribed = false
    this.gateway.lostSubscription()
    this.relay.closeAll(CloseCode.goingAway, 'lost the broker subscription; resume')
    if (this.#host && !this.#closed) this.report(Object.assign(new BrokerError('broker_unavailable', `lost the Redis subscription of this process (${(err as Error)?.message ?? String(err)}); its relayed transports were closed and resume, it subscribes again on its own`), { cause: err }))
  }

  /** Subscribe to this process's channel (before the broker is handed out, so no request reaches a deaf home). */
  async subscribe(): Promise<void> {
    const { sub } = this.link
    await sub.subscribe(this.channel(this.id), (raw: string) => (this.#host ? this.#onMessage(raw) : this.#early.push(raw)))
    // A lost subscription: transports relayed from other homes close (their clients resume); once back,
    // check every epoch (another process may have adopted a session while this one was deaf).
    sub.on('error', (err: unknown) => this.#lostSubscription(err))
    sub.on('ready', () => {
      this.#subscribed = true
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
    if (st.told && st.pending.length >= this.link.options.maxHeldMessages) return this.#handBack(session, st)
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

  /**
   * The broker lost Redis (`down`) or has it back: the clients of every session homed here are
   * told, once per outage ({@link #tell}).
   */
  outage(down: boolean): void {
    if (!this.#host || this.#closed) return
    for (const [session, st] of this.#homed) this.#tell(session, st, down)
  }

  /**
   * Tell a session's clients that its writes stopped going through (`down`) or go through again,
   * once per change: a client that connected with `notices=1` gets a `notice` frame
   * (`server_degraded` / `server_recovered`, docs/PROTOCOL.md); an older one gets, when it goes
   * down only, the `error` frame it always got (`server_error`, message starting `broker_unavailable`).
   */
  #tell(session: Session, st: Homed, down: boolean): void {
    if (st.told === down) return
    st.told = down
    for (const sink of [session.sink, session.probe]) if (sink) notify(sink, down)
  }

  /** A transport just attached (hello and replay written): while its session is degraded, it is told so too. */
  attached(session: Session, sink: Sink): void {
    if (this.#homed.get(session)?.told) notify(sink, true)
  }

  /**
   * A fanned-out message for a session that already holds `maxHeldMessages` Redis did not take:
   * rather than drop it (a hole the client would never learn of), stop holding this session here.
   * What Redis holds of it is exact (its log up to the last write, and the fan-out position saved
   * with it), so the held fan-out messages are dropped here and re-read from the fan-out stream by
   * whoever adopts the session; the held `conn.send()`s reject (`broker_unavailable`: the app
   * knows). Its transports close (1001), the session is marked released in Redis as soon as Redis
   * answers, and the client's resume, on any process, adopts it: every message arrives, in order,
   * under the ids it would have had, with no `reset`.
   */
  #handBack(session: Session, st: Homed): void {
    const max = this.link.options.maxHeldMessages
    this.#forget(session, new BrokerError('broker_unavailable', `Redis has not taken ${max} messages of this session (maxHeldMessages); it is handed back to Redis and resumes from there`))
    session.drop(CloseCode.goingAway, 'Redis has not answered for too long; resume (the session continues once it is back)')
    void this.#releaseWhenBack(session.sid, st)
  }

  /** RELEASE_LUA for a session given up here, retried (with backoff) until Redis answers or this process stops. */
  async #releaseWhenBack(sid: string, st: Homed): Promise<void> {
    await st.flight // a write in flight lands first (or fails): released after it
    for (let failures = 0; !this.#stopping && !this.#closed; failures++) {
      try {
        await evalScript(this.link.main, RELEASE_LUA, this.#keys(sid).slice(0, 1), [st.ep]) // 0: adopted meanwhile; nothing to do
        return
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** failures, 2_000)))
      }
    }
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

  /** The hash fields routing needs; undefined when there is no such session. */
  async meta(sid: string): Promise<SessionMeta | undefined> {
    const [home, ep, rel, ik, u] = (await unavailable(send(this.link.main, ['HMGET', this.#keys(sid)[0]!, 'home', 'ep', 'rel', 'ik', 'u']))) as (string | null)[]
    if (!home || !ep) return undefined
    return { home, ep, released: rel === '1', ik: ik ?? '', u: u ?? 'null' }
  }

  /** Take the session over (one per sid at a time in this process). 'moved': someone else did; look again. */
  adopt(sid: string, meta: SessionMeta): Promise<Session | undefined | 'moved'> {
    const running = this.#adopting.get(sid)
    if (running) return running
    const p = this.#adoptNow(sid, meta).finally(() => this.#adopting.delete(sid))
    this.#adopting.set(sid, p)
    return p
  }

  async #adoptNow(sid: string, meta: SessionMeta): Promise<Session | undefined | 'moved'> {
    const local = this.host.sessions.get(sid)
    if (local) return local
    const res = (await unavailable(evalScript(this.link.main, ADOPT_LUA, this.#keys(sid), [meta.home, meta.ep, this.id, this.#ttl]))) as unknown[] | null
    if (!res) return undefined
    if (res[0] !== 'ok') return 'moved'
    const ep = String(res[1])
    const h = fieldsOf(res[2])
    const nacks = Object.entries(fieldsOf(res[3]))
      .map(([seq, f]) => [Number(seq), JSON.parse(f) as ServerFrame] as [number, ServerFrame])
      .sort((a, b) => a[0] - b[0])
    let log = logMessages(res[4] as LogEntry[])
    const fp = h.fp ?? '0-0'
    let nextId = Number(h.nid)
    if (await unavailable(this.link.broker.lostAfter(fp))) {
      // The fan-out stream no longer reaches back to the old home's position: messages for this session
      // may be gone. Never a silent gap: the log restarts after a skipped id, so every client resumes with
      // `reset: 'replay_window_exceeded'` (session.ts attach), here and after any later adoption.
      await unavailable(send(this.link.main, ['XTRIM', this.#keys(sid)[1]!, 'MINID', String(nextId)]))
      log = []
      nextId++
    }
    const init: SessionInit = {
      sid,
      connId: h.cid!,
      lastSeq: Number(h.seq),
      nextId,
      forgottenNack: Number(h.fn),
      nacks,
      topics: JSON.parse(h.tp ?? '[]') as string[],
      log,
    }
    const session = this.host.newSession(JSON.parse(h.u ?? 'null'), init)
    this.#homed.set(session, homed(ep))
    await this.#catchUp(session, fp)
    this.host.sessions.set(sid, session)
    this.host.announce(session.conn)
    return session
  }

  /**
   * Fan-out messages the old home had not given the session: those after its saved position up to
   * this process's position, filtered by its topics. Returns with nothing awaited after the last
   * check, so the session joins live delivery exactly where the catch-up ended.
   */
  async #catchUp(session: Session, saved: string): Promise<void> {
    const { broker } = this.link
    // This process may not yet have read as far as the old home had: wait for it, or it would deliver those twice.
    for (let waited = 0; compareIds(broker.position, saved) < 0 && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10))
    let from = saved
    for (;;) {
      const to = broker.position
      if (compareIds(to, from) <= 0) return
      for (const m of await broker.fanoutRange(from, to)) if (m.topic === undefined || session.topics.has(m.topic)) session.fanOut(m.payload, m.topic)
      from = to
    }
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

/** Write the degraded / recovered notice to one transport, in the form its client reads (see RedisSessions.#tell). */
function notify(sink: Sink, down: boolean): void {
  if (sink.notices) sink.write(JSON.stringify(down ? DEGRADED : RECOVERED))
  else if (down) sink.write(JSON.stringify(OLD_DEGRADED))
}

const DEGRADED: NoticeFrame = { t: 'notice', reason: 'server_degraded', code: 'broker_unavailable', message: 'the server cannot reach Redis; sends are not acknowledged and messages are held until it is back' }
const RECOVERED: NoticeFrame = { t: 'notice', reason: 'server_recovered' }
/** What a client without `notices=1` is told (the form from before `notice` frames). */
const OLD_DEGRADED: ServerFrame = { t: 'error', code: 'server_error', message: `broker_unavailable: ${DEGRADED.message!}` }

/** A Redis call that failed because a client of ours is closing or closed (node-redis's error classes, by name). */
function isShutdownFailure(err: unknown): boolean {
  const cause = err instanceof BrokerError ? (err as { cause?: unknown }).cause : err
  const name = (cause as { constructor?: { name?: string } } | undefined)?.constructor?.name
  return name === 'DisconnectsClientError' || name === 'ClientClosedError' || (err instanceof BrokerError && err.code === 'broker_unavailable')
}

/** A failed Redis call as the server reports it: `BrokerError('broker_unavailable')`, the cause kept. */
async function unavailable<T>(p: Promise<T>): Promise<T> {
  try {
    return await p
  } catch (err) {
    if (err instanceof BrokerError) throw err
    const e = new BrokerError('broker_unavailable', `Redis did not answer: ${(err as Error).message}`)
    ;(e as { cause?: unknown }).cause = err
    throw e
  }
}

/** Mark a promise handled (an ignored conn.send() never becomes an unhandled rejection) and return it. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {})
  return p
}
