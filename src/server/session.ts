import { Emitter } from '../emitter'
import { CloseCode, type ClientFrame, type ErrorCode, type HelloFrame, type ServerFrame, type TransportKind } from '../protocol'
import type { Infer, InferIn, StandardSchemaV1 } from '../schema'
import { formatIssues } from '../schema'
import type { ConnectionEvents } from './connection'
import type { Sink } from './sink'

export type { Sink } from './sink'
export type { ConnectionEvents } from './connection'

/** Hooks the session needs from its server. */
export interface SessionHost {
  replayWindow: number
  /** Sequenced frames (msg/sub/unsub) per second a session may send; over it they are nacked `rate_limited`. Infinity: no limit. */
  maxInboundPerSecond?: number
  validateOutgoing(msg: unknown): unknown
  validateIncoming(msg: unknown): StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>
  authorizeSubscribe(conn: Connection, topic: string): boolean | Promise<boolean>
  onEnd(session: Session): void
  onError(err: unknown): void
}

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
  readonly id = b64(9)
  constructor(
    private readonly session: Session,
    /** What `authenticate` returned for this client. */
    readonly user: unknown,
  ) {
    super()
  }
  /** The transport currently attached, or null while the client is reconnecting. */
  get transport(): TransportKind | null {
    return this.session.sink?.kind ?? null
  }
  get topics(): ReadonlySet<string> {
    return this.session.topics
  }
  /** Send a message (validated against `outgoing`); buffered for replay if the client is reconnecting. */
  send(message: InferIn<Out>): void {
    this.session.sendPayload(JSON.stringify(this.session.host.validateOutgoing(message)))
  }
  /** End the session; the client sees `server_closed` and reconnects into a new session. */
  close(): void {
    this.session.end('server_closed')
  }
  /** @internal */
  fire<K extends keyof ConnectionEvents<Infer<In>>>(event: K, payload: ConnectionEvents<Infer<In>>[K]): void {
    this.emit(event, payload)
  }
}

export class Session {
  /** Unguessable session token (192 bits). */
  readonly sid = b64(24)
  readonly conn: Connection
  readonly topics = new Set<string>()
  sink: Sink | null = null
  #nextId = 1
  #buffer: { id: number; text: string }[] = []
  #lastSeq = 0
  /** Recent nacks by seq, repeated when the client resends a frame whose nack it never saw. */
  #nacks = new Map<number, ServerFrame>()
  #chain: Promise<void> = Promise.resolve()
  /** Token bucket for maxInboundPerSecond: a burst of one second's worth, refilled continuously. */
  #tokens = NaN
  #refilledAt = 0
  #ended = false
  #expiry: ReturnType<typeof setTimeout> | undefined

  constructor(
    readonly host: SessionHost,
    readonly user: unknown,
  ) {
    this.conn = new Connection(this, user)
  }

  get ended(): boolean {
    return this.#ended
  }

  /** Attach a sink: hello, then every buffered message after `last`. Replaces (closes) the previous sink. */
  attach(sink: Sink, hello: Omit<HelloFrame, 't' | 'sid' | 'resumed' | 'reset'>, resume: number | 'none' | 'unknown'): void {
    clearTimeout(this.#expiry)
    const old = this.sink
    this.sink = sink
    if (old) old.close(CloseCode.replaced, 'replaced by a newer connection')
    const frame: HelloFrame = { t: 'hello', sid: this.sid, ...hello, resumed: typeof resume === 'number' }
    const from = typeof resume === 'number' ? resume : 0
    const oldest = this.#buffer[0]?.id ?? this.#nextId
    if (resume === 'unknown') frame.reset = 'session_unknown'
    else if (typeof resume === 'number' && from + 1 < oldest && from + 1 < this.#nextId) {
      frame.resumed = false
      frame.reset = 'replay_window_exceeded'
    }
    sink.write(JSON.stringify(frame))
    for (const m of this.#buffer) if (m.id > from) sink.write(m.text, m.id)
  }

  /** `sink` ended. If it was the live one, the session waits `ttlMs` for a resume, then ends as `expired`. */
  detach(sink: Sink, ttlMs: number): boolean {
    if (this.sink !== sink) return false
    this.sink = null
    if (this.#ended) return true
    clearTimeout(this.#expiry)
    this.#expiry = setTimeout(() => this.end('expired'), ttlMs)
    ;(this.#expiry as { unref?: () => void }).unref?.()
    return true
  }

  /** `payload` is already-serialized JSON of a validated message. */
  sendPayload(payload: string): void {
    if (this.#ended) return
    const id = this.#nextId++
    const text = `{"t":"msg","id":${id},"d":${payload}}`
    this.#buffer.push({ id, text })
    if (this.#buffer.length > this.host.replayWindow) this.#buffer.shift()
    this.sink?.write(text, id)
  }

  /** Handle client frames in order; replies go to `reply`. Resolves when all are handled. */
  process(frames: ClientFrame[], reply: (f: ServerFrame) => void): Promise<void> {
    const run = this.#chain.then(() => this.#processNow(frames, reply))
    this.#chain = run.catch(() => {})
    return run
  }

  async #processNow(frames: ClientFrame[], reply: (f: ServerFrame) => void): Promise<void> {
    let acked = -1
    const flushAck = () => {
      if (acked >= 0) reply({ t: 'ack', seq: acked })
      acked = -1
    }
    for (const f of frames) {
      if (this.#ended) return
      if (f.t === 'ping') {
        flushAck()
        reply({ t: 'pong', ...(f.n !== undefined ? { n: f.n } : {}) })
        continue
      }
      if (f.t === 'bye') {
        flushAck()
        this.end('client_closed')
        return
      }
      if (f.seq <= this.#lastSeq) {
        // A resend after a reconnect: already handled. Repeat a nack whose reply may have been lost.
        const nack = this.#nacks.get(f.seq)
        if (nack) {
          flushAck()
          reply(nack)
        } else acked = Math.max(acked, f.seq)
        continue
      }
      if (f.seq !== this.#lastSeq + 1) {
        flushAck()
        reply({ t: 'nack', seq: f.seq, code: 'bad_frame', message: `sequence gap: expected seq ${this.#lastSeq + 1}` })
        continue
      }
      this.#lastSeq = f.seq
      const err = this.#overRate() ?? (await this.#accept(f))
      if (err) {
        flushAck()
        const nack: ServerFrame = { t: 'nack', seq: f.seq, code: err.code, message: err.message }
        this.#nacks.set(f.seq, nack)
        if (this.#nacks.size > 256) this.#nacks.delete(this.#nacks.keys().next().value!)
        reply(nack)
      } else acked = f.seq
    }
    flushAck()
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

  async #accept(f: Exclude<ClientFrame, { t: 'ping' | 'bye' }>): Promise<{ code: ErrorCode; message: string } | undefined> {
    try {
      if (f.t === 'msg') {
        const r = await this.host.validateIncoming(f.d)
        if (r.issues) return { code: 'invalid_message', message: formatIssues(r.issues) }
        this.conn.fire('message', r.value)
        return undefined
      }
      if (f.t === 'sub') {
        if (!(await this.host.authorizeSubscribe(this.conn, f.topic))) return { code: 'forbidden', message: `not allowed to subscribe to ${JSON.stringify(f.topic)}` }
        this.topics.add(f.topic)
        this.conn.fire('subscribe', f.topic)
        return undefined
      }
      this.topics.delete(f.topic)
      this.conn.fire('unsubscribe', f.topic)
      return undefined
    } catch (err) {
      this.host.onError(err)
      return { code: 'server_error', message: 'the server failed to handle this message' }
    }
  }

  end(reason: ConnectionEvents<unknown>['close']['reason']): void {
    if (this.#ended) return
    this.#ended = true
    clearTimeout(this.#expiry)
    const sink = this.sink
    this.sink = null
    sink?.close(reason === 'server_closed' ? CloseCode.goingAway : CloseCode.normal, reason)
    this.#buffer = []
    this.host.onEnd(this)
    this.conn.fire('close', { reason })
  }
}
