import type { Listener } from '../emitter'
import type { TransportKind } from '../protocol'
import type { Infer, InferIn, StandardSchemaV1 } from '../schema'

export interface ConnectionEvents<M> {
  /** A client message that passed the `incoming` schema. */
  message: M
  subscribe: string
  unsubscribe: string
  /** The session ended: client said bye, it expired after a disconnect, or the server closed. */
  close: { reason: 'client_closed' | 'expired' | 'server_closed' }
}

/**
 * What the application sees: one logical client that survives reconnects and transport
 * switches. `transport` is the only thing that tells them apart.
 */
export interface Connection<In extends StandardSchemaV1 = StandardSchemaV1, Out extends StandardSchemaV1 = StandardSchemaV1> {
  /** Public id, safe to log and share (unlike the session token). */
  readonly id: string
  /** What `authenticate` returned for this client. */
  readonly user: unknown
  /** The transport currently attached, or null while the client is reconnecting. */
  readonly transport: TransportKind | null
  readonly topics: ReadonlySet<string>
  /**
   * The `seq` of the client frame being handled, set while `message`, `subscribe` and `unsubscribe`
   * listeners run (read it synchronously at the start of a handler). `(conn.id, inboundSeq)` names
   * one client message: a de-duplication key for handlers with side effects.
   */
  readonly inboundSeq: number
  /**
   * True when this process took the session over from another process that died or was drained
   * (shared broker only; see docs/RELIABILITY.md "More than one process"): the listeners
   * registered there are gone, so `connection` fired again here. `id` is kept, so
   * `(conn.id, inboundSeq)` still de-duplicates a client message handled on both.
   */
  readonly adopted: boolean
  /**
   * Send a message (validated against `outgoing`: throws at once when invalid); buffered for
   * replay if the client is reconnecting. Resolves when the broker holds it (from then on a client
   * that resumes on any process gets it); with the in-memory broker it is already resolved.
   * Awaiting it is optional: a rejection is also reported on the server's `error` event.
   */
  send(message: InferIn<Out>): Promise<void>
  /** End the session; the client sees `server_closed` and reconnects into a new session. */
  close(): void
  /** Add a listener; returns a function that removes it. */
  on<K extends keyof ConnectionEvents<Infer<In>>>(event: K, listener: Listener<ConnectionEvents<Infer<In>>[K]>): () => void
  once<K extends keyof ConnectionEvents<Infer<In>>>(event: K, listener: Listener<ConnectionEvents<Infer<In>>[K]>): () => void
  off<K extends keyof ConnectionEvents<Infer<In>>>(event: K, listener: Listener<ConnectionEvents<Infer<In>>[K]>): void
  listenerCount(event?: keyof ConnectionEvents<Infer<In>>): number
}
