/**
 * The broker seam: what more than one server process must share goes through this interface.
 *
 * Implemented today: **fan-out** of `broadcast()` / `publish()`. Every process hands its
 * messages to the broker, and every process (including the sender) receives every message
 * from it in one total order, then delivers it to its own sessions. With the default in-memory
 * broker that is a synchronous loop in this process; `surewire/redis` puts a Redis stream
 * between the processes.
 *
 * Sessions: a broker may also share the sessions themselves (identity, `lastSeq`, remembered
 * nacks, topics, message ids and replay log, which process is each session's home). It does so
 * through the internal session-cluster factory of src/server/cluster/layer.ts (contract S1):
 * `createRedisBroker` has one; the in-memory broker has none, and then every request for a
 * session must reach the process that holds it (see docs/RELIABILITY.md "More than one process").
 */

/** One fanned-out message: `payload` is serialized JSON of a validated message. */
export interface FanOut {
  /** Subscribers of this topic only; absent: every session (`broadcast`). */
  topic?: string
  payload: string
}

/** A change in the broker's health, reported on the server's `error` event when not ok. */
export interface BrokerStatus {
  ok: boolean
  /** Why not: `'broker_unavailable'` (cannot reach it; fan-out resumes when it is back) or `'broker_data_lost'` (it restarted without its data: fan-out messages between the last one this process saw and the restart are gone). */
  reason?: 'broker_unavailable' | 'broker_data_lost'
  detail?: string
}

export interface BrokerHandlers {
  /** Deliver one message to this process's sessions. Called in the broker's total order, once per message. */
  deliver(message: FanOut): void
  status(status: BrokerStatus): void
}

export interface Broker {
  /**
   * Hand a message to every process. Resolves once the broker holds it (from then on every
   * process that is subscribed receives it exactly once, in order); rejects when it cannot take
   * it. A rejection after the broker took it but before it answered is possible (the message is
   * then delivered although the call rejected): at most one copy per call, never a silent loss.
   * A broker should resolve only once this process has delivered it too (bounded in time), so a
   * `conn.send()` the app makes next is ordered after it; both built-in brokers do.
   */
  fanOut(message: FanOut): void | Promise<void>
  /** Start receiving every process's messages. Called once by the server; resolves when receiving. */
  start(handlers: BrokerHandlers): void | Promise<void>
  /** Stop receiving and release connections. */
  close(): void | Promise<void>
}

/** The default broker: one process, synchronous delivery, no setup. */
export function createMemoryBroker(): Broker {
  let handlers: BrokerHandlers | undefined
  return {
    fanOut: (m) => handlers?.deliver(m),
    start: (h) => {
      handlers = h
    },
    close: () => {
      handlers = undefined
    },
  }
}

/** What a broker reports (on the server's `error` event) or throws (`createRedisBroker` when Redis is unreachable). */
export class BrokerError extends Error {
  override name = 'BrokerError'
  constructor(
    /** `broker_unreachable`: not reachable at start. `session_moved`: a send or forwarded request for a session another process took over (its home changed, see docs/RELIABILITY.md "More than one process"). The others: see {@link BrokerStatus.reason}. */
    readonly code: 'broker_unreachable' | 'broker_unavailable' | 'broker_data_lost' | 'session_moved',
    message: string,
  ) {
    super(message)
  }
}
