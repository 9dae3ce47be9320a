import { SurewireError, ValidationError } from '../errors'
import { utf8Length, type HelloFrame } from '../protocol'
import type { StandardSchemaV1 } from '../schema'
import { Outbox, handledRejection } from './outbox'

/** The bounds a session's sending obeys (ClientOptions). */
interface SessionOptions {
  maxQueuedMessages: number
  maxQueuedBytes: number
  maxMessageBytes: number
}

/** What a hello meant for the session: the same one resumed, or a reset (the server lost what we had). */
export type HelloOutcome = 'first' | 'resumed' | NonNullable<HelloFrame['reset']>

/**
 * The client's side of one server session, whatever transport carries it: its id and the last
 * message id seen (for resume and de-duplication), the topics, the outbox of unanswered frames and
 * the server's frame limit. The state machine (client.ts) decides when to connect; this decides
 * what a send queues and what a hello means for what is queued.
 */
export class ClientSession {
  sid: string | undefined
  lastId = 0
  /** The server's frame limit from the last hello (Infinity before one arrived). */
  maxFrame = Infinity
  /** Created by the first send() or subscribe(): an idle connection that never sends holds none. */
  outbox: Outbox | undefined
  /** Created on the first subscribe(). */
  topics: Set<string> | undefined
  readonly #o: SessionOptions

  constructor(o: SessionOptions) {
    this.#o = o
  }

  /** The largest message (its envelope included) the client and the server both accept. */
  limit(): number {
    return Math.min(this.#o.maxMessageBytes, this.maxFrame - 2)
  }

  queue(): Outbox {
    return (this.outbox ??= new Outbox(this.#o.maxQueuedMessages, this.#o.maxQueuedBytes))
  }

  /**
   * Queue a validated message: its one serialisation (the size check uses it, and the transport
   * writes it: codec.ts serialisedData). Rejects typed (invalid_message, too_large) without queueing.
   * The promise is not marked handled here (the caller does; the outbox marks its own before it rejects).
   */
  message(result: StandardSchemaV1.Result<unknown>): Promise<void> {
    if (result.issues) return handledRejection(new ValidationError(result.issues, 'outgoing'))
    let json: string | undefined
    try {
      json = JSON.stringify(result.value)
    } catch (err) {
      return handledRejection(new SurewireError('invalid_message', `message is not JSON-serialisable: ${(err as Error).message}`))
    }
    if (json === undefined) return handledRejection(new SurewireError('invalid_message', 'message is not JSON-serialisable'))
    const bytes = utf8Length(json) + 24 // envelope {"t":"msg","seq":N,"d":…}
    const limit = this.limit()
    if (bytes > limit) return handledRejection(new SurewireError('too_large', `message is ${bytes} bytes; the limit is ${limit}${(typeof process !== 'undefined' && process.env.NODE_ENV !== 'production') ? ' (maxMessageBytes / server maxFrameBytes)' : ''}`))
    return this.queue().pushMessage(result.value, json, bytes)
  }

  /** Subscribe (`sub`) or unsubscribe: remembered across reconnects, queued like a message. */
  topic(t: 'sub' | 'unsub', topic: string): Promise<void> {
    if (t === 'sub') (this.topics ??= new Set()).add(topic)
    else this.topics?.delete(topic)
    return this.queue().push({ t, topic }, utf8Length(topic) + 32)
  }

  /** Topics without a `sub` waiting in the outbox (the ones the server has confirmed). */
  confirmed(): string[] {
    return [...(this.topics ?? [])].filter((t) => !this.outbox?.hasSub(t))
  }

  /** A hello on a new connection: adopt its session and limit, and ready the outbox for it (everything unacked is sent again). */
  hello(hello: HelloFrame): HelloOutcome {
    this.maxFrame = hello.maxFrameBytes > 0 ? hello.maxFrameBytes : Infinity
    const prev = this.sid
    this.sid = hello.sid
    const outbox = this.outbox
    if (prev !== hello.sid) {
      this.lastId = 0
      // A new server session knows none of our topics: subscribe again (unless a sub is already queued).
      // (Topics imply an outbox: subscribe() created it.)
      if (prev !== undefined) outbox?.unshift(this.confirmed().map((topic) => ({ t: 'sub' as const, topic })))
      outbox?.renumber()
    }
    outbox?.markAllUnsent()
    const limit = this.limit()
    outbox?.rejectLarger(limit, (bytes) => new SurewireError('too_large', `message is ${bytes} bytes; the server accepts at most ${limit}`))
    return prev === undefined ? 'first' : prev === hello.sid && hello.resumed ? 'resumed' : (hello.reset ?? 'session_unknown')
  }

  /** A server message with id `id`: false for one already seen (a duplicate after a resume). */
  fresh(id: number): boolean {
    if (id <= this.lastId) return false
    this.lastId = id
    return true
  }

  /** The session is over (close()): the next connection starts a new one. */
  forget(): void {
    this.sid = undefined
    this.lastId = 0
  }
}

