import { Emitter } from '../emitter'
import { CloseCode, type ClientFrame, type HelloFrame, type ServerFrame, type TransportKind } from '../protocol'
import type { Infer, InferIn, StandardSchemaV1 } from '../schema'
import type { ConnectionEvents } from './connection'
import { Inbound } from './inbound'
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
  /** Ids below this are announced as lost to any resume from before it (see {@link Session.lost}). */
  #lostBefore = 0
  /** Created with the first client frame (or by an adopted session's inbound state): see ./inbound.ts. */
  #inbound: Inbound | undefined
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
    if (init.lastSeq > 0 || init.forgottenNack > 0 || init.nacks.length > 0) this.#inbound = new Inbound(this, init)
    this.#nextId = init.nextId
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
    const i = this.#inbound
    return { lastSeq: i?.lastSeq ?? 0, forgottenNack: i?.forgottenNack ?? 0, nacks: i?.nacks ? [...i.nacks] : [], topics: [...this.topics] }
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
    const frame: HelloFrame = { t: 'hello', sid: this.sid, ...hello, resumed: typeof resume === 'number', seq: this.#inbound?.lastSeq ?? 0 }
    const from = typeof resume === 'number' ? resume : 0
    this.#log?.trim() // age out what is past replayWindowMs before deciding
    const oldest = Math.max(this.#lostBefore, this.#log?.oldest ?? this.#nextId)
    if (resume === 'unknown') frame.reset = 'session_unknown'
    else if (typeof resume === 'number' && from + 1 < oldest && from + 1 < this.#nextId) {
      frame.resumed = false
      frame.reset = 'replay_window_exceeded'
    }
    sink.write(JSON.stringify(frame))
    if (this.#log) for (const m of this.#log.after(from)) sink.write(m.text, m.id)
  }

  /**
   * @internal Messages meant for this session may be lost upstream (the cluster layer's fan-out
   * reader found the stream trimmed past its position, or Redis lost its data): never a silent gap.
   * One id is skipped, so every resume from before now gets `reset: 'replay_window_exceeded'`
   * (what the log still holds follows it); the live transports close with `code` so the client
   * resumes, and learns it, now. Returns the id after the skipped one (undefined: ended).
   */
  lost(code: number, reason: string): number | undefined {
    if (this.#ended) return undefined
    this.#lostBefore = ++this.#nextId
    const { sink, probe } = this
    probe?.close(code, reason)
    sink?.close(code, reason)
    return this.#nextId
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
    return (this.#inbound ??= new Inbound(this)).process(frames, reply)
  }

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
    if (this.#inbound) this.#inbound.nacks = undefined
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

