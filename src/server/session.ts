import { Emitter } from '../emitter'
import { CloseCode, type ClientFrame, type ErrorCode, type HelloFrame, type ServerFrame, type TransportKind } from '../protocol'
import type { Infer, InferIn, StandardSchemaV1 } from '../schema'
import { formatIssues } from '../schema'
import type { ConnectionEvents } from './connection'
import { msgFrame, ReplayLog, type ReplayBounds } from './replay-log'
import type { Sink } from './sink'

export type { Sink } from './sink'
export type { ConnectionEvents } from './connection'

/** The state a session is rebuilt from when this process adopts it. */
export interface SessionInit {
  sid: string
  connId: string
  lastSeq: number
  nextId: number
  forgottenNack: number
  nacks: [number, ServerFrame][]
  topics: string[]
  /** The replay log: `[id, frame text]`, oldest first. */
  log: [number, string][]
}

/** Write-through from a session to the shared state (called by Session only when a cluster is present). */
export interface SessionStore {
  /** Hold one outbound message (id allocated by the home) in the broker, then hand it to `session.committed()`. Resolves when held. */
  append(session: Session, id: number, text: string, payload: string, topic: string | undefined): Promise<void>
  /** {@link append} of a fanned-out message nobody waits for: no promise per delivery. */
  post(session: Session, id: number, text: string, payload: string, topic: string | undefined): void
  /** Commit lastSeq / nacks / topics after a batch; false: do not release its replies (broker down, or fenced out). */
  commit(session: Session): Promise<boolean>
}

/** Hooks the session needs from its server. */
export interface SessionHost {
  /** Bounds of every session's replay log (age, bytes, count, process total). */
  replay: ReplayBounds
  /**
   * How far behind `lastSeq` a client may still resend a frame (the clients' `maxQueuedMessages`
   * or more). Nacks are remembered that far back, so a resend whose nack was lost gets it again.
   */
  resendWindow: number
  /** Sequenced frames (msg/sub/unsub) per second a session may send; over it they are nacked `rate_limited`. Infinity: no limit. */
  maxInboundPerSecond?: number
  validateOutgoing(msg: unknown): unknown
  validateIncoming(msg: unknown): StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>
  authorizeSubscribe(conn: Connection, topic: string): boolean | Promise<boolean>
  onEnd(session: Session): void
  onError(err: unknown): void
  /** The cluster layer (a shared broker's sessions); absent with the in-memory broker: no write-through, no awaits. */
  store?: SessionStore
}

/** What send() returns when nothing is awaited (the in-memory broker): already resolved. */
const RESOLVED: Promise<void> = Promise.resolve()

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
/** `n` random bytes (Web Crypto: Node ≥ 20, Bun, Deno, browsers), base64url without padding. `n` is a multiple of 3. */
function b64(n: number): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(n))
  let out = ''
  for (let i = 0; i < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    out += B64URL[v >> 18]! + B64URL[(v >> 12) & 63]! + B64URL[(v >> 6) & 63]! + B64URL[v & 63]!
  }
  return out
}

const SERVER_ERROR = { code: 'server_error', message: 'the server failed to handle this message' } as const

/** Why a sequenced frame was not accepted (its nack), or undefined when it was. */
type Failure = { code: ErrorCode; message: string } | undefined

const isThenable = <T>(v: T | PromiseLike<T>): v is PromiseLike<T> => typeof (v as { then?: unknown } | null)?.then === 'function'
/** `f(v)`, at once when `v` is a value, after it settles when it is a promise (sync stays sync). */
const then = <T, R>(v: T | PromiseLike<T>, f: (value: T) => R | PromiseLike<R>): R | PromiseLike<R> => (isThenable(v) ? v.then(f) : f(v))

/**
 * What the application sees: one logical client that survives reconnects and
 * transport switches. `transport` is the only thing that tells them apart.
 */
export class Connection<In extends StandardSchemaV1 = StandardSchemaV1, Out extends StandardSchemaV1 = StandardSchemaV1> extends Emitter<
  ConnectionEvents<Infer<In>>
> {
  /** Public id, safe to log and share (unlike the session token). */
  readonly id: string
  /**
   * True when this process took the session over from another one that died or was drained
   * (a shared broker only): the listeners registered there are gone, so `connection` fired again
   * here. `id` is the same, so `(conn.id, conn.inboundSeq)` still de-duplicates.
   */
  readonly adopted: boolean
  constructor(
    private readonly session: Session,
    /** What `authenticate` returned for this client. */
    readonly user: unknown,
    id?: string,
  ) {
    super()
    this.id = id ?? b64(9)
    this.adopted = id !== undefined
  }
  /** The transport currently attached, or null while the client is reconnecting. */
  get transport(): TransportKind | null {
    return this.session.sink?.kind ?? null
  }
  get topics(): ReadonlySet<string> {
    return this.session.topics
  }
  /**
   * The `seq` of the client frame being handled, set while `message`, `subscribe` and `unsubscribe`
   * listeners run (read it synchronously at the start of a handler). `(conn.id, inboundSeq)` names
   * one client message: a de-duplication key for handlers with side effects.
   */
  inboundSeq = 0
  /**
   * Send a message (validated against `outgoing`, throws at once if invalid); buffered for replay if
   * the client is reconnecting. Resolves when the broker holds it (the in-memory broker: at once);
   * awaiting it is optional, a rejection that is not awaited is also reported on the server's `error`.
   */
  send(message: InferIn<Out>): Promise<void> {
    return this.session.sendPayload(JSON.stringify(this.session.host.validateOutgoing(message)))
  }
  /** End the session; the client sees `server_closed` and reconnects into a new session. */
  close(): void {
    this.session.end('server_closed')
  }
  /**
   * @internal Run the listeners; what they threw (or their promises rejected with) is returned,
   * never rethrown, so one handler's bug is answered `server_error` instead of ending the process.
   */
  fire<K extends keyof ConnectionEvents<Infer<In>>>(event: K, payload: ConnectionEvents<Infer<In>>[K]): unknown[] | Promise<unknown[]> {
    return this.emitReporting(event, payload)
  }
}

export class Session {
  /** Unguessable session token (192 bits). */
  readonly sid: string
  readonly conn: Connection
  readonly topics = new Set<string>()
  sink: Sink | null = null
  /**
   * A WebSocket that attached while the live connection was SSE (the client's background probe).
   * It gets hello, the replay and every new message, but the SSE stream stays live too until the
   * probe's first client frame proves it works both ways; then it becomes `sink` (contract C3).
   */
  probe: Sink | null = null
  #nextId = 1
  /** Created with the first message sent (memory per idle connection): see #logged(). */
  #log: ReplayLog | undefined
  #lastSeq = 0
  /**
   * Nacks by seq, in seq order, kept while the client may still resend that seq (within
   * `resendWindow` of `lastSeq`), so a resend whose nack was lost is nacked again, never acked.
   */
  #nacks: Map<number, ServerFrame> | undefined
  /** The highest seq whose nack was forgotten: a duplicate at or below it has an unknown outcome. */
  #forgottenNack = 0
  /** Token bucket for maxInboundPerSecond: a burst of one second's worth, refilled continuously. */
  #tokens = NaN
  #refilledAt = 0
  #ended = false
  #expiry: ReturnType<typeof setTimeout> | undefined

  constructor(
    readonly host: SessionHost,
    readonly user: unknown,
    /** The state of a session adopted from another process (cluster layer only). */
    init?: SessionInit,
  ) {
    this.sid = init?.sid ?? b64(24)
    this.conn = new Connection(this, user, init?.connId)
    if (init) this.#restore(init)
  }

  #restore(init: SessionInit): void {
    this.#lastSeq = init.lastSeq
    this.#nextId = init.nextId
    this.#forgottenNack = init.forgottenNack
    for (const [seq, nack] of init.nacks) (this.#nacks ??= new Map()).set(seq, nack)
    for (const t of init.topics) this.topics.add(t)
    for (const [id, text] of init.log) {
      const f = JSON.parse(text) as { topic?: string; d: unknown }
      this.#logged().push(id, JSON.stringify(f.d), f.topic, text.length)
    }
  }

  #logged(): ReplayLog {
    return (this.#log ??= new ReplayLog(this.host.replay))
  }

  /** @internal What the cluster layer commits after a batch of client frames (lastSeq, nacks, topics). */
  inboundState(): { lastSeq: number; forgottenNack: number; nacks: [number, ServerFrame][]; topics: string[] } {
    return { lastSeq: this.#lastSeq, forgottenNack: this.#forgottenNack, nacks: this.#nacks ? [...this.#nacks] : [], topics: [...this.topics] }
  }

  /** Whether the session is waiting for a resume (no live connection, expiry armed). */
  get expiring(): boolean {
    return this.#expiry !== undefined
  }

  get ended(): boolean {
    return this.#ended
  }

  /**
   * Attach a sink: hello, then every buffered message after `last`. Replaces (closes) the previous
   * sink at once, except a WebSocket joining a live SSE stream: that one is a probe until its first
   * client frame (see {@link Session.probe}).
   */
  attach(sink: Sink, hello: Omit<HelloFrame, 't' | 'sid' | 'resumed' | 'reset'>, resume: number | 'none' | 'unknown'): void {
    this.#stopExpiry()
    const replaced = this.probe
    this.probe = null
    if (replaced) replaced.close(CloseCode.replaced, 'replaced by a newer connection')
    if (sink.kind === 'websocket' && this.sink?.kind === 'sse') this.probe = sink
    else {
      const old = this.sink
      this.sink = sink
      if (old) old.close(CloseCode.replaced, 'replaced by a newer connection')
    }
    const frame: HelloFrame = { t: 'hello', sid: this.sid, ...hello, resumed: typeof resume === 'number', seq: this.#lastSeq }
    const from = typeof resume === 'number' ? resume : 0
    this.#log?.trim() // age out what is past replayWindowMs before deciding
    const oldest = this.#log?.oldest ?? this.#nextId
    if (resume === 'unknown') frame.reset = 'session_unknown'
    else if (typeof resume === 'number' && from + 1 < oldest && from + 1 < this.#nextId) {
      frame.resumed = false
      frame.reset = 'replay_window_exceeded'
    }
    sink.write(JSON.stringify(frame))
    if (this.#log) for (const m of this.#log.after(from)) sink.write(m.text, m.id)
  }

  /** `sink` ended. If it was the live one, the session waits `ttlMs` for a resume, then ends as `expired`. */
  detach(sink: Sink, ttlMs: number): boolean {
    if (this.probe === sink) {
      this.probe = null // the probe failed before proving itself: the SSE stream simply stays
      return false
    }
    if (this.sink !== sink) return false
    this.sink = this.probe // the SSE stream ended while a probe was waiting: the probe is all there is
    this.probe = null
    if (this.sink) return false
    if (this.#ended) return true
    this.#stopExpiry()
    this.#expiry = setTimeout(() => this.end('expired'), ttlMs)
    ;(this.#expiry as { unref?: () => void }).unref?.()
    return true
  }

  #stopExpiry(): void {
    clearTimeout(this.#expiry)
    this.#expiry = undefined
  }

  /** A client frame arrived on `sink`: a probe has proved itself and takes over from the SSE stream. */
  heardFrom(sink: Sink): void {
    if (this.probe !== sink) return
    const old = this.sink
    this.sink = sink
    this.probe = null
    old?.close(CloseCode.replaced, 'replaced by a newer connection')
  }

  /**
   * `payload` is already-serialized JSON of a validated message; `topic` when it was published to one (C6).
   * With a cluster store the frame is written through to the broker first (the store calls
   * {@link Session.committed} once it holds it); otherwise it goes out at once.
   */
  sendPayload(payload: string, topic?: string): Promise<void> {
    if (this.#ended) return RESOLVED
    const id = this.#nextId++
    const text = msgFrame(id, payload, topic)
    if (this.host.store) return this.host.store.append(this, id, text, payload, topic)
    this.#logged().push(id, payload, topic, text.length)
    this.#deliver(text, id)
    return RESOLVED
  }

  /** A fanned-out message (broadcast / publish): {@link sendPayload} with nothing to wait for, so no promise per delivery. */
  fanOut(payload: string, topic?: string): void {
    if (this.#ended) return
    const id = this.#nextId++
    const text = msgFrame(id, payload, topic)
    if (this.host.store) return this.host.store.post(this, id, text, payload, topic)
    this.#logged().push(id, payload, topic, text.length)
    this.#deliver(text, id)
  }

  /** A message the cluster store holds: into the replay log and out to the client. */
  committed(id: number, text: string, payload: string, topic: string | undefined): void {
    if (this.#ended) return
    this.#logged().push(id, payload, topic, text.length)
    this.#deliver(text, id)
  }

  /** The one place outbound frames (msg) are written to the session's connections (contract S1 hooks in before it). */
  #deliver(text: string, id: number): void {
    this.sink?.write(text, id)
    this.probe?.write(text, id)
  }

  /**
   * Handle one batch of client frames (a WebSocket message, a POST body) in order; its replies go
   * to `reply`, released together when the batch is done. Batches of a session are processed
   * strictly one after another, never concurrently. Synchronous handlers and validators are run
   * synchronously: the return value is undefined when the batch was handled before returning,
   * and a promise (resolving when it is handled) only when it waits behind, or on, a pending one.
   * `via`: the connection they arrived on, when it is one (WebSocket), so a probe can take over.
   */
  process(frames: readonly ClientFrame[], reply: (f: ServerFrame) => void, via?: Sink): Promise<void> | undefined {
    if (via) this.heardFrom(via)
    // Pings change no state to commit: answered at once, so liveness never waits for the broker (a Redis outage keeps connections open).
    if (this.host.store && !frames.every(isPing)) return this.#processStored(this.host.store, frames, reply)
    return this.#processBatch(frames, reply)
  }

  /** With a cluster store: handle the batch, commit lastSeq/nacks/topics, and only then release its replies. */
  #processStored(store: SessionStore, frames: readonly ClientFrame[], reply: (f: ServerFrame) => void): Promise<void> {
    const run = this.#stored.then(async () => {
      const held: ServerFrame[] = []
      await this.#processBatch(frames, (f) => held.push(f))
      if (this.#ended || held.length === 0) return
      if (await store.commit(this)) for (const f of held) reply(f)
    })
    this.#stored = run.catch(() => {})
    return run
  }

  #stored: Promise<void> = RESOLVED

  /**
   * Stop being this session's home without ending it (it moved to another process, or this one
   * was fenced out): the transports close with `code`, no `close` event fires, the shared state stays.
   */
  drop(code: number, reason: string): void {
    if (this.#ended) return
    this.#ended = true
    this.#stopExpiry()
    const sink = this.sink
    const probe = this.probe
    this.sink = this.probe = null
    sink?.close(code, reason)
    probe?.close(code, reason)
    this.#log?.clear()
    this.#nacks = undefined
  }

  #processBatch(frames: readonly ClientFrame[], reply: (f: ServerFrame) => void): Promise<void> | undefined {
    if (this.#held) return new Promise<void>((resolve, reject) => this.#held!.push({ frames, reply, resolve, reject }))
    const pending = this.#run(frames, 0, reply)
    if (!pending) return undefined
    this.#held = []
    return this.#afterHeld(pending)
  }

  /**
   * Batches that arrived while one waits on a promise (an async validator, handler or
   * authorizeSubscribe), in arrival order; undefined while nothing is pending.
   */
  #held: { frames: readonly ClientFrame[]; reply: (f: ServerFrame) => void; resolve: () => void; reject: (err: unknown) => void }[] | undefined
  /** The batch being processed: highest seq to ack, and the replies before it (nacks, pongs, earlier acks). */
  #acked = -1
  #replies: ServerFrame[] | undefined

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
      if (this.#ended) return this.#reset()
      const f = frames[i]!
      if (f.t === 'ping') {
        this.#reply({ t: 'pong', ...(f.n !== undefined ? { n: f.n } : {}) })
        continue
      }
      if (f.t === 'bye') {
        const released = this.#release(reply)
        if (!released) return void this.end('client_closed')
        return released.then(() => this.end('client_closed'))
      }
      if (f.seq <= this.#lastSeq) {
        // A resend after a reconnect: already handled. Repeat a nack whose reply may have been lost.
        const nack = this.#nacks?.get(f.seq) ?? (f.seq <= this.#forgottenNack ? this.#unknownOutcome(f.seq) : undefined)
        if (nack) this.#reply(nack)
        else if (f.seq > this.#acked) this.#acked = f.seq
        continue
      }
      if (f.seq !== this.#lastSeq + 1) {
        this.#reply({ t: 'nack', seq: f.seq, code: 'bad_frame', message: `sequence gap: expected seq ${this.#lastSeq + 1}` })
        continue
      }
      this.#lastSeq = f.seq
      if (this.#nacks && this.#nacks.size > 0) this.#forgetOldNacks()
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
    ;(this.#nacks ??= new Map()).set(seq, nack)
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
    const floor = this.#lastSeq - this.host.resendWindow
    for (const seq of this.#nacks!.keys()) {
      if (seq > floor) break
      this.#nacks!.delete(seq)
      this.#forgottenNack = seq
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
      message: `seq ${seq} is more than resendWindow=${this.host.resendWindow} frames old; its outcome is no longer known (raise resendWindow to at least the client's maxQueuedMessages)`,
    }
  }

  /** Take a token for one new sequenced frame; the nack reason when the session is over its rate. */
  #overRate(): { code: ErrorCode; message: string } | undefined {
    const max = this.host.maxInboundPerSecond ?? Infinity
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
    this.host.onError(err)
    return SERVER_ERROR
  }

  #acceptNow(f: Exclude<ClientFrame, { t: 'ping' | 'bye' }>): Failure | PromiseLike<Failure> {
    if (f.t === 'msg') {
      return then(this.host.validateIncoming(f.d), (r) =>
        r.issues ? { code: 'invalid_message', message: formatIssues(r.issues) } : this.#handled(f.seq, 'message', r.value),
      )
    }
    const topic = f.topic
    if (f.t === 'sub') {
      return then(this.host.authorizeSubscribe(this.conn, topic), (allowed) => {
        if (!allowed) return { code: 'forbidden', message: `not allowed to subscribe to ${JSON.stringify(topic)}` }
        this.topics.add(topic)
        return then(this.#handled(f.seq, 'subscribe', topic), (failed) => {
          if (failed) this.topics.delete(topic) // nacked: the client is not subscribed, so neither is the session
          return failed
        })
      })
    }
    const had = this.topics.delete(topic)
    return then(this.#handled(f.seq, 'unsubscribe', topic), (failed) => {
      if (failed && had) this.topics.add(topic)
      return failed
    })
  }

  /** Run the app's listeners for one client frame; any failure (thrown or rejected) is reported and nacked. */
  #handled(seq: number, event: 'message' | 'subscribe' | 'unsubscribe', payload: unknown): Failure | Promise<Failure> {
    this.conn.inboundSeq = seq
    const r = this.conn.fire(event, payload as never)
    const report = (errors: unknown[]): Failure => {
      for (const err of errors) this.host.onError(err)
      return errors.length ? SERVER_ERROR : undefined
    }
    return Array.isArray(r) ? report(r) : r.then(report)
  }

  end(reason: ConnectionEvents<unknown>['close']['reason']): void {
    if (this.#ended) return
    this.drop(reason === 'server_closed' ? CloseCode.goingAway : CloseCode.normal, reason) // closes its transports, forgets its log
    this.host.onEnd(this)
    const r = this.conn.fire('close', { reason })
    if (Array.isArray(r)) for (const err of r) this.host.onError(err)
    else void r.then((errors) => errors.forEach((err) => this.host.onError(err)))
  }
}

const isPing = (f: ClientFrame): boolean => f.t === 'ping'
