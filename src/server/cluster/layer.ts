/**
 * The cluster seam for sessions (contract S1, docs/RELIABILITY.md "More than one process").
 *
 * A broker that can share sessions between processes carries a factory under the registered
 * symbol {@link CLUSTER}: `broker[CLUSTER](host)` returns the {@link SessionCluster} of this
 * process. `createRedisBroker` (surewire/redis) has one; the in-memory broker has none, and then
 * nothing below runs: no write-through, no awaits on the hot path (`SessionHost.store` is unset).
 *
 * Interface for the rest of the server (CLUSTER-SUITE's drain uses it):
 * - configuration: only the broker (`createRealtimeServer({ broker: await createRedisBroker({ url }) })`);
 *   every process sharing the Redis and key prefix shares the sessions. Nothing else to set.
 * - the drain (`SessionRegistry.drain(windowMs)`) moves one client at a time: `handOver(session)`
 *   for each session homed here, a close for each transport of `relayed()`; `draining()` first, so
 *   a POST landing here during the drain is not adopted back (503, retried elsewhere).
 * - `SessionRegistry.release(): Promise<void>` (core.sessions.release()): flush every session this
 *   process homes, mark it released in Redis (the next process that sees a request for it adopts it
 *   at once, no liveness wait), and close its transports with 1001 so the clients resume elsewhere.
 *   Call it after the listening socket stopped accepting, then `close()` as usual (close() after
 *   release ends nothing in Redis: the released sessions are no longer this process's).
 *   With the in-memory broker release() resolves at once and sessions do not survive.
 * - `realtime.connections` lists this process's sessions (those it homes).
 */
import type { HelloFrame } from '../../protocol'
import type { Connection } from '../connection'
import type { ResolvedServerOptions } from '../options'
import type { Session, SessionHost, SessionInit, SessionStore } from '../session'
import type { Sink } from '../sink'

/** Where a broker keeps its session-cluster factory (a registered symbol, invisible in the public types). */
export const CLUSTER = Symbol.for('surewire.cluster')

/** What the cluster layer needs from this process's registry. */
export interface ClusterHost {
  readonly options: ResolvedServerOptions
  /** The hooks every session of this server shares. */
  readonly sessionHost: SessionHost
  /** The sessions this process homes, by sid. */
  readonly sessions: Map<string, Session>
  /** A session object of this process (`init`: adopted, with its saved state). */
  newSession(user: unknown, init?: SessionInit): Session
  /** Fire `connection` (an adopted session). */
  announce(conn: Connection): void
  /** The hello fields this server announces. */
  hello(): Omit<HelloFrame, 't' | 'sid' | 'resumed' | 'reset'>
  error(err: unknown): void
}

export interface SessionCluster extends SessionStore {
  /** A session was just created here: write it (identity, user, conn.id, home) before anyone can ask for it. */
  created(session: Session): Promise<void>
  /**
   * A transport for a session this process does not hold: attach it through the home (a gateway
   * session) or adopt the session if its home is gone or released. Undefined: no such session (or
   * another identity's).
   */
  attach(sink: Sink, sid: string, last: number | undefined, user: unknown): Promise<Session | undefined>
  /** A POST for a session this process does not hold: a handle whose process() runs on the home. */
  find(sid: string): Promise<Session | undefined>
  /** A transport was just attached to `session` (hello and replay written): tell it the server's state when degraded (a `notice`, docs/PROTOCOL.md). */
  attached(session: Session, sink: Sink): void
  /** A transport ended; true when it was a gateway transport (handled here). */
  detach(session: Session, sink: Sink): boolean
  /** A homed session ended (bye, expiry, close): remove its shared state. */
  ended(session: Session): void
  /** The drain began: from now on this process adopts no session (a request that would adopt one is refused, retryable). */
  draining(): void
  /** Drain: hand one session homed here over (flush, mark released) and close its transports with `code`. */
  handOver(session: Session, code: number, reason: string): Promise<void>
  /** Drain: the transports this process relays for sessions homed on other processes. */
  relayed(): Sink[]
  release(): Promise<void>
  close(): Promise<void>
}

export type ClusterFactory = (host: ClusterHost) => SessionCluster
