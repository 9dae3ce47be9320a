/**
 * Adoption in the Redis session layer (contract S1; docs/RELIABILITY.md "More than one process"):
 * a request for a session whose home no longer listens (PUBLISH reached 0 subscribers) or
 * released it takes it over with one compare-and-set (ADOPT_LUA, epoch + 1), rebuilds it from
 * Redis, catches it up on fan-out messages from its saved position, and fires `connection` with
 * `conn.adopted`.
 */
import type { ServerFrame } from '../protocol'
import type { FanOut } from '../server/broker'
import type { ClusterHost } from '../server/cluster/layer'
import type { Session, SessionInit } from '../server/session'
import { compareIds, evalScript, fieldsOf, send, unavailable, type Client } from './eval'
import { logMessages, type LogEntry } from './log'
import { ADOPT_LUA } from './scripts'
import { homed, type Homed } from './writer'

/** What the layer uses of the broker: the fan-out position and range, for adoption catch-up. */
export interface FanoutSource {
  readonly position: string
  /** Resolves once this process has delivered the fan-out entry `id` or a later one (`false` after `ms` without). */
  reached(id: string, ms: number): Promise<boolean>
  fanoutRange(from: string, to: string): Promise<FanOut[]>
  /** The stream was trimmed past `from`: a catch-up from there would skip messages. */
  lostAfter(from: string): Promise<boolean>
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

/** What adoption needs of the session layer. */
export interface AdoptHost {
  readonly main: Client
  readonly broker: FanoutSource
  /** This process's id in Redis (the new home field). */
  readonly id: string
  /** The server the layer is bound to. */
  cluster(): ClusterHost
  /** A session's keys: hash, log, nacks. */
  keys(sid: string): string[]
  /** How long a session's keys live without a touch (ms, as a string). */
  ttl(): string
  /** The adopted session is homed here from now on (its writes go through the layer). */
  home(session: Session, st: Homed): void
}

export class Adopter {
  readonly #adopting = new Map<string, Promise<Session | undefined | 'moved'>>()

  constructor(private readonly host: AdoptHost) {}

  /** The hash fields routing needs; undefined when there is no such session. */
  async meta(sid: string): Promise<SessionMeta | undefined> {
    const [home, ep, rel, ik, u] = (await unavailable(send(this.host.main, ['HMGET', this.host.keys(sid)[0]!, 'home', 'ep', 'rel', 'ik', 'u']))) as (string | null)[]
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
    const cluster = this.host.cluster()
    const local = cluster.sessions.get(sid)
    if (local) return local
    const { main } = this.host
    const res = (await unavailable(evalScript(main, ADOPT_LUA, this.host.keys(sid), [meta.home, meta.ep, this.host.id, this.host.ttl()]))) as unknown[] | null
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
    if (await unavailable(this.host.broker.lostAfter(fp))) {
      // The fan-out stream no longer reaches back to the old home's position: messages for this session
      // may be gone. Never a silent gap: the log restarts after a skipped id, so every client resumes with
      // `reset: 'replay_window_exceeded'` (session.ts attach), here and after any later adoption.
      await unavailable(send(main, ['XTRIM', this.host.keys(sid)[1]!, 'MINID', String(nextId)]))
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
    const session = cluster.newSession(JSON.parse(h.u ?? 'null'), init)
    this.host.home(session, homed(ep))
    await this.#catchUp(session, fp)
    cluster.sessions.set(sid, session)
    cluster.announce(session.conn)
    return session
  }

  /**
   * Fan-out messages the old home had not given the session: those after its saved position up to
   * this process's position, filtered by its topics. Returns with nothing awaited after the last
   * check, so the session joins live delivery exactly where the catch-up ended.
   */
  async #catchUp(session: Session, saved: string): Promise<void> {
    const { broker } = this.host
    // This process may not yet have read as far as the old home had: wait for it, or it would deliver those twice.
    await broker.reached(saved, 10_000)
    let from = saved
    for (;;) {
      const to = broker.position
      if (compareIds(to, from) <= 0) return
      for (const m of await broker.fanoutRange(from, to)) if (m.topic === undefined || session.topics.has(m.topic)) session.fanOut(m.payload, m.topic)
      from = to
    }
  }
}
