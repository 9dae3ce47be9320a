/**
 * Outages in the Redis session layer (docs/RELIABILITY.md "More than one process"): the clients of
 * sessions homed here are told when their writes stop going through and when they go through
 * again; a session that holds too much Redis did not take is handed back to Redis; a fan-out
 * loss is told to every session, never a silent gap; a lost subscription closes the transports
 * that depend on it.
 */
import { CloseCode, type NoticeFrame, type ServerFrame } from '../protocol'
import { BrokerError } from '../server/broker'
import type { Session } from '../server/session'
import type { Sink } from '../server/sink'
import { evalScript, type Client } from './eval'
import { RELEASE_LUA } from './scripts'
import type { Homed } from './writer'

/** A session skipped an id (fan-out loss): its log restarts after it and `nid` is at least past it, if still homed under `ep`. KEYS hash, log; ARGV ep, next id. */
const LOST_LUA = `if redis.call('HGET', KEYS[1], 'ep') ~= ARGV[1] then return 0 end
redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2])
if tonumber(redis.call('HGET', KEYS[1], 'nid') or '0') < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], 'nid', ARGV[2]) end
return 1`

/** What the outage handling needs of the session layer. */
export interface OutageHost {
  readonly main: Client
  /** Messages Redis did not take that a session holds at most (maxHeldMessages). */
  readonly maxHeldMessages: number
  /** A session's keys: hash, log, nacks. */
  keys(sid: string): string[]
  /** Every session homed here. */
  homed(): Iterable<[Session, Homed]>
  /** The write-through state of a session while it is homed here. */
  state(session: Session): Homed | undefined
  /** Bound to a server and not closed: there are clients to tell. */
  active(): boolean
  /** release(), close() or crash() began: no more retries. */
  stopping(): boolean
  /** Stop holding a session here: its held sends reject with `err`. */
  forget(session: Session, err: unknown): void
  /** Close every transport relayed over this process's channel (from other homes, and to other processes). */
  closeRelayed(): void
  report(err: unknown): void
}

export class Outages {
  /** This process's channel subscription is up (a loss is handled once, until it is back). */
  #subscribed = true

  constructor(private readonly host: OutageHost) {}

  /**
   * The subscription dropped (Redis restarted, or it closed the connection: e.g. past
   * `client-output-buffer-limit pubsub`). node-redis resubscribes on its own; what was published
   * to this channel meanwhile is lost, so every transport that depends on it closes and its client
   * resumes (from its last id, resending what was not acked): those relayed from other homes
   * (their writes) and those relayed to other processes from sessions homed here (their frames,
   * detaches). Reported once per loss.
   */
  lostSubscription(err: unknown): void {
    if (!this.#subscribed) return
    this.#subscribed = false
    this.host.closeRelayed()
    if (this.host.active()) this.host.report(Object.assign(new BrokerError('broker_unavailable', `lost the Redis subscription of this process (${(err as Error)?.message ?? String(err)}); its relayed transports were closed and resume, it subscribes again on its own`), { cause: err }))
  }

  /** The subscription is back: the next loss is handled again. */
  resubscribed(): void {
    this.#subscribed = true
  }

  /**
   * The broker lost Redis (`down`) or has it back: the clients of every session homed here are
   * told, once per outage ({@link tell}).
   */
  outage(down: boolean): void {
    if (!this.host.active()) return
    for (const [session, st] of this.host.homed()) this.tell(session, st, down)
  }

  /**
   * This process's fan-out reader skipped messages (the stream was trimmed past its position, or
   * Redis came back without its data): any session homed here may have missed one. Each is told,
   * never a silent gap: its live transports close (going away) and the resume gets
   * `reset: 'replay_window_exceeded'` ({@link Session.lost}); a session waiting for a resume gets it then.
   * The skipped id goes to Redis too (fenced: its log restarts after it), so an adopter resets as well.
   */
  fanoutLost(): void {
    if (!this.host.active()) return
    for (const [session, st] of this.host.homed()) {
      const next = session.lost(CloseCode.goingAway, 'broker_data_lost: messages for this session may be lost; resume')
      if (next !== undefined) void evalScript(this.host.main, LOST_LUA, this.host.keys(session.sid).slice(0, 2), [st.ep, String(next)]).catch((err: unknown) => this.host.report(err))
    }
  }

  /**
   * Tell a session's clients that its writes stopped going through (`down`) or go through again,
   * once per change: a client that connected with `notices=1` gets a `notice` frame
   * (`server_degraded` / `server_recovered`, docs/PROTOCOL.md); an older one gets, when it goes
   * down only, the `error` frame it always got (`server_error`, message starting `broker_unavailable`).
   */
  tell(session: Session, st: Homed, down: boolean): void {
    if (st.told === down) return
    st.told = down
    for (const sink of [session.sink, session.probe]) if (sink) notify(sink, down)
  }

  /** A transport just attached (hello and replay written): while its session is degraded, it is told so too. */
  attached(session: Session, sink: Sink): void {
    if (this.host.state(session)?.told) notify(sink, true)
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
  handBack(session: Session, st: Homed): void {
    const max = this.host.maxHeldMessages
    this.host.forget(session, new BrokerError('broker_unavailable', `Redis has not taken ${max} messages of this session (maxHeldMessages); it is handed back to Redis and resumes from there`))
    session.drop(CloseCode.goingAway, 'Redis has not answered for too long; resume (the session continues once it is back)')
    void this.#releaseWhenBack(session.sid, st)
  }

  /** RELEASE_LUA for a session given up here, retried (with backoff) until Redis answers or this process stops. */
  async #releaseWhenBack(sid: string, st: Homed): Promise<void> {
    await st.flight // a write in flight lands first (or fails): released after it
    for (let failures = 0; !this.host.stopping(); failures++) {
      try {
        await evalScript(this.host.main, RELEASE_LUA, this.host.keys(sid).slice(0, 1), [st.ep]) // 0: adopted meanwhile; nothing to do
        return
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** failures, 2_000)))
      }
    }
  }
}

/** Write the degraded / recovered notice to one transport, in the form its client reads (see Outages.tell). */
function notify(sink: Sink, down: boolean): void {
  if (sink.notices) sink.write(JSON.stringify(down ? DEGRADED : RECOVERED))
  else if (down) sink.write(JSON.stringify(OLD_DEGRADED))
}

const DEGRADED: NoticeFrame = { t: 'notice', reason: 'server_degraded', code: 'broker_unavailable', message: 'the server cannot reach Redis; sends are not acknowledged and messages are held until it is back' }
const RECOVERED: NoticeFrame = { t: 'notice', reason: 'server_recovered' }
/** What a client without `notices=1` is told (the form from before `notice` frames). */
const OLD_DEGRADED: ServerFrame = { t: 'error', code: 'server_error', message: `broker_unavailable: ${DEGRADED.message!}` }
