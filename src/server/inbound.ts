/**
 * The inbound batch runner of one session: client frames (msg / sub / unsub / ping / bye) in
 * order, exactly once (`lastSeq`, remembered nacks), rate limit, validation, the app's
 * listeners, and the replies of each batch (acks, nacks, pongs) released together. Created by
 * the session with its first client frame (or when an adopted session brings inbound state), so
 * an idle connection holds none of it (memory per connection).
 */
import type { ClientFrame, ErrorCode, ServerFrame } from '../protocol'
import { formatIssues, type StandardSchemaV1 } from '../schema'

/** What the runner needs of its session (src/server/session.ts; declared here so neither module imports the other's types in a cycle). */
export interface InboundSession {
  readonly ended: boolean
  readonly topics: Set<string>
  readonly conn: { inboundSeq: number; fire(event: 'message' | 'subscribe' | 'unsubscribe', payload: never): unknown[] | Promise<unknown[]> }
  readonly host: {
    readonly resendWindow: number
    readonly maxInboundPerSecond?: number
    validateIncoming(msg: unknown): StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>
    /** Called with `conn` (the session's Connection, typed in session.ts). */
    authorizeSubscribe(conn: never, topic: string): boolean | Promise<boolean>
    onError(err: unknown): void
    readonly store?: { commit(session: InboundSession): Promise<boolean> }
  }
  end(reason: 'client_closed'): void
}

type InboundStore = NonNullable<InboundSession['host']['store']>

const SERVER_ERROR = { code: 'server_error', message: 'the server failed to handle this message' } as const

/** What a resolved wait returns when nothing is awaited. */
const RESOLVED: Promise<void> = Promise.resolve()

/** Why a sequenced frame was not accepted (its nack), or undefined when it was. */
type Failure = { code: ErrorCode; message: string } | undefined

const isThenable = <T>(v: T | PromiseLike<T>): v is PromiseLike<T> => typeof (v as { then?: unknown } | null)?.then === 'function'
/** `f(v)`, at once when `v` is a value, after it settles when it is a promise (sync stays sync). */
const then = <T, R>(v: T | PromiseLike<T>, f: (value: T) => R | PromiseLike<R>): R | PromiseLike<R> => (isThenable(v) ? v.then(f) : f(v))

const isPing = (f: ClientFrame): boolean => f.t === 'ping'

/** A batch that arrived while an earlier one waits on a promise. */
interface Held {
  frames: readonly ClientFrame[]
  reply: (f: ServerFrame) => void
  resolve: () => void
  reject: (err: unknown) => void
}

/** The inbound state a session is restored with (adopted from another process). */
export interface InboundInit {
  lastSeq: number
  forgottenNack: number
  nacks: readonly [number, ServerFrame][]
}

export class Inbound {
  lastSeq = 0
  /**
   * Nacks by seq, in seq order, kept while the client may still resend that seq (within
   * `resendWindow` of `lastSeq`), so a resend whose nack was lost is nacked again, never acked.
   */
  nacks: Map<number, ServerFrame> | undefined
  /** The highest seq whose nack was forgotten: a duplicate at or below it has an unknown outcome. */
  forgottenNack = 0
  /** Token bucket for maxInboundPerSecond: a burst of one second's worth, refilled continuously. */
  #tokens = NaN
  #refilledAt = 0
  #stored: Promise<void> = RESOLVED
  /**
   * Batches that arrived while one waits on a promise (an async validator, handler or
   * authorizeSubscribe), in arrival order; undefined while nothing is pending.
   */
  #held: Held[] | undefined
  /** The batch being processed: highest seq to ack, and the replies before it (nacks, pongs, earlier acks). */
  #acked = -1
  #replies: ServerFrame[] | undefined

  constructor(
    private readonly session: InboundSession,
    init?: InboundInit,
  ) {
    if (!init) return
    this.lastSeq = init.lastSeq
    this.forgottenNack = init.forgottenNack
    for (const [seq, nack] of init.nacks) (this.nacks ??= new Map()).set(seq, nack)
  }

  /** See `Session.process` (src/server/session.ts). */
  process(frames: readonly ClientFrame[], reply: (f: ServerFrame) => void): Promise<void> | undefined {
    const store = this.session.host.store
    // Pings change no state to commit: answered at once, so liveness never waits for the broker (a Redis outage keeps connections open).
    if (store && !frames.every(isPing)) return this.#processStored(store, frames, reply)
    return this.#processBatch(frames, reply)
  }

  /** With a cluster store: handle the batch, commit lastSeq/nacks/topics, and only then release its replies. */
  #processStored(store: InboundStore, frames: readonly ClientFrame[], reply: (f: ServerFrame) => void): Promise<void> {
    const run = this.#stored.then(async () => {
      const held: ServerFrame[] = []
      await this.#processBatch(frames, (f) => held.push(f))
      if (this.session.ended || held.length === 0) return
      if (await store.commit(this.session)) for (const f of held) reply(f)
    })
    this.#stored = run.catch(() => {})
    return run
  }

  #processBatch(frames: readonly ClientFrame[], reply: (f: ServerFrame) => void): Promise<void> | undefined {
    if (this.#held) return new Promise<void>((resolve, reject) => this.#held!.push({ frames, reply, resolve, reject }))
    const pending = this.#run(frames, 0, reply)
    if (!pending) return undefined
    this.#held = []
    return this.#afterHeld(pending)
  }

  /** Once the batch that held the session is done, run the held batches (synchronously where they allow). */
  #afterHeld(pending: Promise<void>): Promise<void> {
    return pending.then(
      () => this.#drain(),
      (err: unknown) => {
        this.#drain()
        throw err
      },
    )
  }

  #drain(): void {
    const held = this.#held!
    while (held.length > 0) {
      const b = held.shift()!
      let pending: Promise<void> | undefined
      try {
        pending = this.#run(b.frames, 0, b.reply)
      } catch (err) {
        b.reject(err)
        continue
      }
      if (pending) return void this.#afterHeld(pending).then(b.resolve, b.reject)
      b.resolve()
    }
    this.#held = undefined
  }

  /** Run frames `i…` of a batch; undefined when it finished synchronously, else a promise of its end. */
  #run(frames: readonly ClientFrame[], i: number, reply: (f: ServerFrame) => void): Promise<void> | undefined {
    for (; i < frames.length; i++) {
      if (this.session.ended) return this.#reset()
      const f = frames[i]!
      if (f.t === 'ping') {
        this.#reply({ t: 'pong', ...(f.n !== undefined ? { n: f.n } : {}) })
        continue
      }
      if (f.t === 'bye') {
        const released = this.#release(reply)
        if (!released) return void this.session.end('client_closed')
        return released.then(() => this.session.end('client_closed'))
      }
      if (f.seq <= this.lastSeq) {
        // A resend after a reconnect: already handled. Repeat a nack whose reply may have been lost.
        const nack = this.nacks?.get(f.seq) ?? (f.seq <= this.forgottenNack ? this.#unknownOutcome(f.seq) : undefined)
        if (nack) this.#reply(nack)
        else if (f.seq > this.#acked) this.#acked = f.seq
        continue
      }
      if (f.seq !== this.lastSeq + 1) {
        this.#reply({ t: 'nack', seq: f.seq, code: 'bad_frame', message: `sequence gap: expected seq ${this.lastSeq + 1}` })
        continue
      }
      this.lastSeq = f.seq
      if (this.nacks && this.nacks.size > 0) this.#forgetOldNacks()
      const outcome = this.#overRate() ?? this.#accept(f)
      if (outcome instanceof Promise) {
        const seq = f.seq
        return outcome.then((failed) => {
          this.#settle(seq, failed)
          return this.#run(frames, i + 1, reply)
        })
      }
      this.#settle(f.seq, outcome)
    }
    return this.#release(reply)
  }

  /** Record the outcome of the sequenced frame `seq` (accepted when `failed` is undefined). */
  #settle(seq: number, failed: Failure): void {
    if (!failed) {
      this.#acked = seq
      return
    }
    const nack: ServerFrame = { t: 'nack', seq, code: failed.code, message: failed.message }
    ;(this.nacks ??= new Map()).set(seq, nack)
    this.#reply(nack)
  }

  /** A nack or pong of the batch: the pending ack (lower seqs) goes before it. */
  #reply(f: ServerFrame): void {
    const out = (this.#replies ??= [])
    if (this.#acked >= 0) out.push({ t: 'ack', seq: this.#acked })
    this.#acked = -1
    out.push(f)
  }

  /** Forget the batch's replies (the session ended while it ran: nothing is answered). */
  #reset(): undefined {
    this.#acked = -1
    this.#replies = undefined
    return undefined
  }

  /**
   * The one place the replies of a batch (acks, nacks, pongs, in order) are handed to the
   * transport, once the whole batch is handled. A session layer that must persist lastSeq/nacks
   * first (contract S1) hooks in here and returns a promise: the session stays held (later
   * batches wait) until it settles. In memory: synchronous, undefined.
   */
  #release(reply: (f: ServerFrame) => void): Promise<void> | undefined {
    const out = this.#replies
    const acked = this.#acked
    this.#reset()
    if (out) for (const f of out) reply(f)
    if (acked >= 0) reply({ t: 'ack', seq: acked })
    return undefined
  }

  /** Drop nacks the client can no longer resend: more than `resendWindow` below `lastSeq`. */
  #forgetOldNacks(): void {
    const floor = this.lastSeq - this.session.host.resendWindow
    for (const seq of this.nacks!.keys()) {
      if (seq > floor) break
      this.nacks!.delete(seq)
      this.forgottenNack = seq
    }
  }

  /**
   * A resend from further back than `resendWindow` (a client whose queue is larger than the server
   * allows): its nack may have been forgotten, so it is never acked (that could report a rejected
   * message as accepted); it is nacked, and the client knows its outcome is unknown.
   */
  #unknownOutcome(seq: number): ServerFrame {
    return {
      t: 'nack',
      seq,
      code: 'bad_frame',
      message: `seq ${seq} is more than resendWindow=${this.session.host.resendWindow} frames old; its outcome is no longer known (raise resendWindow to at least the client's maxQueuedMessages)`,
    }
  }

  /** Take a token for one new sequenced frame; the nack reason when the session is over its rate. */
  #overRate(): { code: ErrorCode; message: string } | undefined {
    const max = this.session.host.maxInboundPerSecond ?? Infinity
    if (!(max < Infinity)) return undefined
    const now = performance.now()
    this.#tokens = Number.isNaN(this.#tokens) ? max : Math.min(max, this.#tokens + ((now - this.#refilledAt) * max) / 1000)
    this.#refilledAt = now
    if (this.#tokens < 1) return { code: 'rate_limited', message: `more than maxInboundPerSecond=${max} messages per second; slow down and send it again` }
    this.#tokens -= 1
    return undefined
  }

  /** Validate and hand one new sequenced frame to the app; a promise only when something it called was async. */
  #accept(f: Exclude<ClientFrame, { t: 'ping' | 'bye' }>): Failure | Promise<Failure> {
    try {
      const r = this.#acceptNow(f)
      return isThenable(r) ? Promise.resolve(r).then(undefined, (err: unknown) => this.#failed(err)) : r
    } catch (err) {
      return this.#failed(err)
    }
  }

  #failed(err: unknown): Failure {
    this.session.host.onError(err)
    return SERVER_ERROR
  }

  #acceptNow(f: Exclude<ClientFrame, { t: 'ping' | 'bye' }>): Failure | PromiseLike<Failure> {
    const { host, topics } = this.session
    if (f.t === 'msg') {
      return then(host.validateIncoming(f.d), (r) =>
        r.issues ? { code: 'invalid_message', message: formatIssues(r.issues) } : this.#handled(f.seq, 'message', r.value),
      )
    }
    const topic = f.topic
    if (f.t === 'sub') {
      return then(host.authorizeSubscribe(this.session.conn as never, topic), (allowed) => {
        if (!allowed) return { code: 'forbidden', message: `not allowed to subscribe to ${JSON.stringify(topic)}` }
        topics.add(topic)
        return then(this.#handled(f.seq, 'subscribe', topic), (failed) => {
          if (failed) topics.delete(topic) // nacked: the client is not subscribed, so neither is the session
          return failed
        })
      })
    }
    const had = topics.delete(topic)
    return then(this.#handled(f.seq, 'unsubscribe', topic), (failed) => {
      if (failed && had) topics.add(topic)
      return failed
    })
  }

  /** Run the app's listeners for one client frame; any failure (thrown or rejected) is reported and nacked. */
  #handled(seq: number, event: 'message' | 'subscribe' | 'unsubscribe', payload: unknown): Failure | Promise<Failure> {
    const conn = this.session.conn
    conn.inboundSeq = seq
    const r = conn.fire(event, payload as never)
    const report = (errors: unknown[]): Failure => {
      for (const err of errors) this.session.host.onError(err)
      return errors.length ? SERVER_ERROR : undefined
    }
    return Array.isArray(r) ? report(r) : r.then(report)
  }
}
