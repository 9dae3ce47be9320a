import { BaseEmitter } from '../emitter'
import { AuthError, ConfigError, RejectedError, ServerRefusalError, SurewireError, ValidationError, errorText, type FrameError } from '../errors'
import { DEFAULT_HEARTBEAT_MS, utf8Length, type CloseCode, type HelloFrame, type ServerFrame } from '../protocol'
import { type Infer, type InferIn, type StandardSchemaV1 } from '../schema'
import { connectTimedOut, describeClose } from './attempt'
import { RetryBudget } from './budget'
import { WsFallback } from './fallback'
import { Inbox } from './inbox'
import { Keepalive } from './keepalive'
import { FallbackMemory, defaultStorage } from './memory'
import { browserLifecycle, defaultBackoff, resolveClientOptions, type ClientOptions, type LifecycleSource } from './options'
import { Outbox, handled, handledRejection, noop } from './outbox'
import { Reporter } from './report'
import { surewireCodec } from './codec'
import type { FetchLike } from './sse'
import { openTransport } from './open'
import type { ClientSnapshot, ClientStats, Status, StatusEvent, StatusReason } from './status'
import { BackgroundProbe } from './probe'
import { MAX_TIMER_MS, timerMs } from './time'
import type { Transport, TransportClose, TransportHandlers, TransportKind } from './transport'
import { fromHrefs, resolveEndpoints, toHrefs, type EndpointHrefs } from './url'
import { isFatalServerError, judgeClose } from './verdict'
import type { FrameLimit, WebSocketConstructor } from './websocket'
import { engineTap, joinTabs, type EngineTap, type LinkEvent, type TabLink } from './share'
import { warnHttp1 } from './share/http1'

export interface ClientEvents<M> {
  /** A server message that passed the `incoming` schema. */
  message: M
  status: StatusEvent
  /** Server data that failed the `incoming` schema. It never reaches `message` handlers. */
  invalid: { error: ValidationError; data: unknown }
  /** Something went wrong that the app may want to show or log; the client keeps going unless `status` says `closed`. */
  error: Error
  /** The server could not replay what was missed (restart, expired session, replay window exceeded): refetch state. */
  reset: { reason: 'session_unknown' | 'replay_window_exceeded' }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the connection records of every client, whatever its schemas
type AnyClient = RealtimeClient<any, any>
/** A connection's place in the state machine: racing in an attempt, the one in use, or the background probe back to WebSocket. */
type Role = 'candidate' | 'active' | 'probe'
/**
 * One transport and its place in the state machine; also the handlers its transport reports to.
 * A transport reports nothing once closed (report.ts; test/client/transport-after-close.test.ts),
 * and the client closes every transport whose record it drops: a record that reports is in use.
 */
interface C extends TransportHandlers, FrameLimit {
  /** Did the transport open (WebSocket `open` / SSE 200)? */
  opened: boolean
  /** Set right after construction (the transport needs these handlers to exist first). */
  t: Transport
  readonly kind: TransportKind
  role: Role
}
/**
 * The connection record, defined by the class's static block so that it reports straight to the
 * client's private members: one object per connection, no closures, no callback table (an idle
 * client holds one, and what it holds adds up over many clients: bench section 5).
 */
let Conn: new (client: AnyClient, kind: TransportKind, role: Role) => C
/** The keepalive's and the inbox's callbacks, called with the client as `this` (no closures per client). */
let clientDead: ConstructorParameters<typeof Keepalive>[1]
let clientInbox: ConstructorParameters<typeof Inbox<unknown>>[1]
type Timer = ReturnType<typeof setTimeout>
type Waiter = { resolve: () => void; reject: (e: Error) => void }

type TypeOf<M> = M extends { type: infer T extends string } ? T : never

/**
 * A realtime connection that uses WebSocket where it works and SSE + POST where
 * it does not, with one state machine owning every retry decision.
 */
export class RealtimeClient<In extends StandardSchemaV1, Out extends StandardSchemaV1> extends BaseEmitter<ClientEvents<Infer<In>>> {
  readonly stats: ClientStats = { duplicates: 0, resumes: 0, resets: 0, attempts: 0 }
  readonly #o
  readonly #endpoints: EndpointHrefs
  readonly #fallback: WsFallback
  /** Created by the first send() or subscribe(): an idle connection that never sends holds none. */
  #outbox: Outbox | undefined
  readonly #inbox: Inbox<Infer<In>>
  #conns: C[] = []
  /** The timer of the current status: `connecting` → connect timeout, `reconnecting` → the retry, `open` → healthyAfterMs. */
  #timer: Timer | undefined
  /** The SSE candidate's head start (`sseHeadStartMs`) while the WebSocket races alone. */
  #headStart: Timer | undefined
  /** connect() calls waiting for open (or for the client to give up); none while open: an idle connection keeps no array. */
  #waiters: Waiter[] | undefined
  #sid: string | undefined
  #lastId = 0
  #hb = DEFAULT_HEARTBEAT_MS
  #serverMaxFrame = Infinity
  /** Reconnect count, failed attempts in a row, auth refusals, the refusal that stands (budget.ts). */
  readonly #budget: RetryBudget
  #attemptId = 0
  /** The background probe back to WebSocket; created the first time the client settles on SSE. */
  #probe: BackgroundProbe<C> | undefined
  #pendingLoss: { reason: StatusReason; detail: string; refused: boolean } | undefined
  /** Created on the first subscribe(). */
  #topics: Set<string> | undefined
  #lifecycleOff: (() => void) | undefined
  #lifecycle: LifecycleSource | null = null
  readonly #keepalive: Keepalive
  /** The status, its transport, reason and attempt (the one place they are kept): what getSnapshot() returns. */
  #snapshot: ClientSnapshot = idle
  #wsWarned = false
  /** The token of the current attempt, so a fallback inside one attempt does not call the provider twice. */
  #attemptToken: string | undefined
  /** This tab shares a connection another tab may hold (src/client/share): status and frames come from the leader. */
  readonly #link: TabLink | undefined
  /** This client is the connection a leader tab holds for every tab (src/client/share). */
  readonly #tap: EngineTap | undefined

  static {
    Conn = class {
      opened = false
      t: Transport = noTransport
      readonly #cl: AnyClient
      readonly kind: TransportKind
      role: Role
      constructor(cl: AnyClient, kind: TransportKind, role: Role) {
        this.#cl = cl
        this.kind = kind
        this.role = role
      }
      maxFrameBytes(): number {
        return this.#cl.#serverMaxFrame
      }
      onOpen(): void {
        this.opened = true
        const cl = this.#cl
        // Contract C3: the server keeps the SSE stream until the probe's first frame, so send one at once.
        if (this.role !== 'probe') return
        this.t.send([{ t: 'ping' }])
        cl.#probe?.opened()
        if (cl.#pendingLoss) cl.#probe?.awaitHello(this)
      }
      onFrame(f: ServerFrame, viaPost?: boolean): void {
        this.#cl.#onFrame(this, f, viaPost)
      }
      onBadFrame(err: FrameError): void {
        this.#cl.emit('error', err)
      }
      onUnsendable(seq: number, err: SurewireError): void {
        this.#cl.#outbox?.refuse(seq, err)
        this.#cl.#flush()
      }
      onClose(info: TransportClose): void {
        this.#cl.#onClose(this, info)
      }
    }
    clientDead = function (reason, detail) {
      ;(this as AnyClient).#lost(reason, detail)
    }
    clientInbox = function (error, data) {
      if (error) (this as AnyClient).emit('invalid', { error, data })
      else (this as AnyClient).emit('message', data)
    }
  }

  constructor(options: ClientOptions<In, Out>) {
    super()
    this.#o = resolveClientOptions(options)
    this.#budget = new RetryBudget(this.#o.maxAttempts, this.#o.authRetries)
    const endpoints = resolveEndpoints(options.url, options.paths)
    this.#endpoints = toHrefs(endpoints)
    const storage = options.storage === undefined ? defaultStorage() : options.storage
    this.#fallback = new WsFallback(storage ? new FallbackMemory(storage, endpoints.key, this.#o.rememberFallbackMs) : noMemory, this.#o.wsFailuresBeforeFallback)
    this.#keepalive = new Keepalive(this.#o, clientDead, this)
    this.#inbox = new Inbox<Infer<In>>(options.incoming, clientInbox, this)
    this.getSnapshot = () => this.#snapshot // here rather than as a field initializer, which would need a context of its own
    const tap = (this.#tap = (options as { [engineTap]?: EngineTap })[engineTap])
    if (tap) {
      this.#sid = tap.sid
      this.#lastId = tap.lastId
      this.#outbox = tap.outbox
      tap.flush = () => this.#flush()
      tap.detach = () => this.#shutdown('closed_by_client', new SurewireError('client_closed', 'handed over to another tab'))
    } else this.#link = joinTabs(options as never, this.#endpoints, (e) => this.#fromLink(e), (o) => new RealtimeClient(o))
  }

  get status(): Status {
    return this.#snapshot.status
  }
  get transport(): TransportKind | null {
    return this.#snapshot.transport
  }
  /**
   * The current status as one immutable object, replaced on every `status` event; pair it with
   * `on('status', …)` in external stores (React's useSyncExternalStore). Bound, so it can be passed around.
   */
  readonly getSnapshot: () => ClientSnapshot
  /** Messages (and subscription changes) waiting for the server's ack. */
  get queued(): number {
    return this.#outbox?.size ?? 0
  }

  /** Handle only messages whose `type` is `type`, typed accordingly. Returns an unsubscribe function. */
  onMessage<T extends TypeOf<Infer<In>>>(type: T, handler: (message: Extract<Infer<In>, { type: T }>) => void): () => void {
    return this.on('message', (m) => {
      if ((m as { type?: unknown })?.type === type) handler(m as Extract<Infer<In>, { type: T }>)
    })
  }

  /** Open the connection. Resolves once open on some transport; rejects with a typed error if the client gives up. */
  connect(): Promise<void> {
    if (this.#snapshot.status === 'open') return Promise.resolve()
    const p = handled(new Promise<void>((resolve, reject) => (this.#waiters ??= []).push({ resolve, reject })))
    if (this.#snapshot.status === 'idle' || this.#snapshot.status === 'closed') {
      this.#budget.reset()
      if (this.#link) return this.#link.connect(), p
      this.#lifecycle = this.#o.lifecycle === undefined ? browserLifecycle() : this.#o.lifecycle
      this.#lifecycleOff = this.#lifecycle?.subscribe((e) => this.#onLifecycle(e))
      void this.#startAttempt('connect_called')
    }
    return p
  }

  /**
   * Send a message. Validated against `outgoing` first (rejects with ValidationError),
   * queued while not connected (rejects with `queue_full` past the bounds), and
   * resolved once the server has accepted it.
   */
  send(message: InferIn<Out>): Promise<void> {
    if (this.#snapshot.status === 'closed') {
      return handledRejection(new SurewireError('client_closed', `send() after close()${(typeof process === 'object' && process.env.NODE_ENV !== 'production') ? ': call connect() again or create a new RealtimeClient' : ''}`))
    }
    const result = this.#o.outgoing['~standard'].validate(message)
    return result instanceof Promise ? handled(result.then((r) => this.#enqueue(r))) : this.#enqueue(result)
  }

  /** Subscribe to a server topic. Survives reconnects and transport switches. */
  subscribe(topic: string): Promise<void> {
    ;(this.#topics ??= new Set()).add(topic)
    return this.#push({ t: 'sub', topic }, utf8Length(topic) + 32)
  }

  unsubscribe(topic: string): Promise<void> {
    this.#topics?.delete(topic)
    return this.#push({ t: 'unsub', topic }, utf8Length(topic) + 32)
  }

  /** Close for good: tells the server the session is over, rejects pending sends. `connect()` may be called again. */
  close(): void {
    if (this.#snapshot.status === 'closed') return
    this.#shutdown('closed_by_client', new SurewireError('client_closed', 'client closed'), true)
    this.#link?.close()
  }

  // ------------------------------------------------------------------ sending

  /** Queue a validated message. Every promise it returns is marked handled (a rejection it settles later, by the outbox). */
  #enqueue(result: StandardSchemaV1.Result<unknown>): Promise<void> {
    if (result.issues) return handledRejection(new ValidationError(result.issues, 'outgoing'))
    let json: string | undefined
    let cause: unknown
    try {
      json = JSON.stringify(result.value)
    } catch (err) {
      cause = err
    }
    if (json === undefined) return handledRejection(new SurewireError('invalid_message', 'message is not JSON-serialisable', { cause }))
    // The one serialisation: the size checks use it, and the transport writes it (codec.ts serialisedData).
    const bytes = utf8Length(json) + 24 // envelope {"t":"msg","seq":N,"d":…}
    const limit = this.#limit()
    if (bytes > limit) {
      return handledRejection(tooLarge(bytes, limit))
    }
    // Not wrapped in handled(): the outbox marks a promise handled before it rejects it (no `.catch` per send).
    const p = this.#queue().push({ t: 'msg', d: result.value }, bytes, undefined, json)
    this.#flush()
    return p
  }

  /** The largest message accepted: `maxMessageBytes`, and what fits the server's frame limit. */
  #limit(): number {
    return Math.min(this.#o.maxMessageBytes, this.#serverMaxFrame - 2)
  }

  #queue(): Outbox {
    return (this.#outbox ??= new Outbox(this.#o.maxQueuedMessages, this.#o.maxQueuedBytes))
  }

  #push(payload: Parameters<Outbox['push']>[0], bytes: number): Promise<void> {
    const p = this.#queue().push(payload, bytes)
    this.#flush()
    return p
  }

  #flush(): void {
    const active = this.#active()
    if (!active || !this.#outbox?.size) return
    const frames = this.#outbox.takeUnsent()
    if (frames.length) active.t.send(frames)
  }

  #active(): C | undefined {
    for (const c of this.#conns) if (c.role === 'active') return c // a loop: this runs on every send()
    return undefined
  }

  // ------------------------------------------------------------------ state machine

  #setStatus(status: Status, reason: StatusReason, extra: Partial<StatusEvent> = {}): void {
    const transport = status === 'open' ? (this.#active()?.kind ?? null) : null
    const event: StatusEvent = { status, previous: this.#snapshot.status, transport, reason, attempt: this.#budget.attempt, ...extra }
    const { previous: _, ...snapshot } = event
    this.#snapshot = Object.freeze(snapshot)
    this.emit('status', event)
  }

  /** Arm the status's timer (replacing the one of the status before: each status has at most one). */
  #arm(ms: number, fn: () => void): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(fn, timerMs(ms))
  }

  #WebSocket(): WebSocketConstructor | undefined {
    return this.#o.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  }

  async #token(): Promise<string | undefined> {
    return this.#o.token ? await this.#o.token() : undefined
  }

  async #startAttempt(reason: StatusReason): Promise<void> {
    this.#setStatus('connecting', reason)
    const id = ++this.#attemptId
    const o = this.#o
    // connectTimeoutMs covers the token phase: a provider that never settles is a failed attempt.
    this.#arm(o.connectTimeoutMs, () => {
      const detail = `token provider did not settle within connectTimeoutMs=${o.connectTimeoutMs}`
      this.emit('error', new SurewireError('auth_failed', detail))
      this.#retry('token_timeout', detail)
    })
    let token: string | undefined
    try {
      token = await this.#token()
    } catch (err) {
      if (id !== this.#attemptId || this.#snapshot.status !== 'connecting') return
      this.emit('error', new SurewireError('auth_failed', 'token provider threw', { cause: err }))
      return this.#retry('token_failed')
    }
    if (id !== this.#attemptId || this.#snapshot.status !== 'connecting') return
    this.#attemptToken = token
    const wantWs = o.transports.includes('websocket')
    const wantSse = o.transports.includes('sse')
    const hasWs = !!this.#WebSocket()
    if (wantWs && !hasWs) {
      // Reported once while SSE covers for it, and every time when nothing else is allowed.
      if (!this.#wsWarned || !wantSse) {
        this.#wsWarned = true
        this.emit('error', new ConfigError(`this runtime has no WebSocket: pass \`WebSocket\`${(typeof process === 'object' && process.env.NODE_ENV !== 'production') ? ', e.g. `import { WebSocket } from "ws"; new RealtimeClient({ WebSocket, … })`' : ''}` + (wantSse ? '; using SSE + POST meanwhile' : ''), 'websocket_unavailable'))
      }
      if (!wantSse) return this.#shutdown('fatal_error', new ConfigError(`no usable transport: no WebSocket, and \`transports\` excludes 'sse'${(typeof process === 'object' && process.env.NODE_ENV !== 'production') ? '; pass `WebSocket` from the "ws" package or add \'sse\' to `transports`' : ''}`, 'websocket_unavailable'))
    }
    this.stats.attempts++
    // WebSocket first unless the fallback says otherwise; SSE joins the race after its head start.
    const ws = this.#fallback.begin(wantWs && (hasWs || 'unavailable'), wantSse)
    this.#open(ws ? 'websocket' : 'sse', 'candidate', token)
    if (ws && wantSse) this.#headStart = setTimeout(() => this.#startSseCandidate(), timerMs(o.sseHeadStartMs))
    this.#arm(o.connectTimeoutMs, () => {
      const v = connectTimedOut(this.#candidates(), this.#fallback, o.connectTimeoutMs)
      if (v.error) this.emit('error', v.error)
      this.#retry(v.reason, v.detail)
    })
  }

  /** Settle every connect() waiting: resolved (open), or rejected with `error` (the client gave up). */
  #settle(error?: Error): void {
    const w = this.#waiters
    this.#waiters = undefined
    for (const x of w ?? []) error ? x.reject(error) : x.resolve()
  }

  #candidates(): C[] {
    return this.#conns.filter((c) => c.role === 'candidate')
  }

  #startSseCandidate(): void {
    clearTimeout(this.#headStart)
    if (!this.#candidates().some((c) => c.kind === 'sse')) this.#open('sse', 'candidate', this.#attemptToken)
  }

  #open(kind: TransportKind, role: Role, token: string | undefined): C {
    const c = new Conn(this, kind, role)
    this.#conns = this.#conns.concat(c) // exact size: push() onto [] reserves 17 slots, kept while connected
    try {
      const fetch = (this.#o.fetch ?? (globalThis.fetch as FetchLike)).bind(globalThis)
      const ctx = { WebSocket: this.#WebSocket()!, fetch, endpoints: fromHrefs(this.#endpoints), maxFrameBytes: () => this.#serverMaxFrame, postTimeoutMs: this.#o.postTimeoutMs }
      c.t = openTransport(this.#o.protocol ?? surewireCodec, kind, ctx, { token, sid: this.#sid, lastId: this.#lastId }, c, c)
    } catch (err) {
      // No transport to report it: a Reporter of its own does, so dropping the connection drops the report too.
      const r = new Reporter(c)
      c.t = { send: noop, close: () => r.end() }
      queueMicrotask(() => r.finish({ opened: false, cause: 'network', detail: `could not open ${kind}: ${errorText(err)}` }))
    }
    return c
  }

  #drop(c: C, bye = false): void {
    this.#conns = this.#conns.filter((x) => x !== c)
    c.t.close(bye)
  }

  #onFrame(c: C, f: ServerFrame, viaPost = false): void {
    const role = c.role
    if (role === 'active') {
      if (!viaPost) this.#keepalive.alive()
      else if (this.#budget.refused === 'open' && (f.t === 'ack' || f.t === 'nack')) this.#budget.proved('open')
    }
    switch (f.t) {
      case 'error':
        // The auth signal, or `fatal` (contract C2), end the connection; a probe's refusal ends the probe only.
        if (role !== 'probe') {
          if (f.code === 'unauthorized') return this.#authFailed(4401 satisfies typeof CloseCode.unauthorized, role === 'active' ? 'open' : 'handshake')
          if (isFatalServerError(f.code, f.fatal)) return this.#fatal(f.code, f.message)
        }
        // Otherwise the connection carries on.
        this.emit('error', new SurewireError('transport_error', `server error ${f.code}: ${f.message}`))
        return
      case 'hello':
        if (role !== 'active') this.#hello(c, f)
        return
    }
    if (role !== 'active') return
    switch (f.t) {
      case 'msg':
        if (f.id <= this.#lastId) {
          this.stats.duplicates++
          return
        }
        this.#lastId = f.id
        return this.#tap ? this.#tap.msg(f) : this.#inbox.push(f.d)
      case 'ack':
        return this.#outbox?.ack(f.seq)
      case 'nack':
        return this.#outbox?.nack(f.seq, new RejectedError(f.code, f.message))
      case 'notice': // the server's state changed; the connection stays open (docs/PROTOCOL.md)
        if (/^server_(degraded|recovered)$/.test(f.reason)) this.#setStatus('open', f.reason as StatusReason, { detail: f.code })
      // pong, hb: liveness only
    }
  }

  #onClose(c: C, info: TransportClose): void {
    this.#conns = this.#conns.filter((x) => x !== c)
    if (c.role === 'probe') return this.#probeFailed()
    const active = c.role === 'active'
    const v = judgeClose(c.kind, active ? 'active' : 'candidate', info)
    const detail = describeClose(info)
    if (v.do === 'auth') return this.#authFailed(v.status, active ? 'open' : 'handshake')
    if (v.do === 'stop') return this.#fatal(v.serverCode, v.message || detail, v.status)
    if (v.do === 'retry' && active) {
      if (v.refused) this.#budget.refusal('open')
      else this.#budget.proved('open') // it was open and ended for another reason: no refusal stands
      // The server said why in the protocol's words: surface its code and message (the status detail has them too).
      if (v.refused && info.serverCode) this.emit('error', new ServerRefusalError(info.serverCode, `the server refused a request: ${detail}`, false, info.status))
      return this.#lost(v.reason, detail, v.refused)
    }
    // A candidate failed before hello.
    if (v.do === 'ws_failed') {
      const fallNow = this.#fallback.failed(v.opened ? 'ws_silent' : 'ws_refused')
      if (fallNow && this.#o.transports.includes('sse')) return this.#startSseCandidate()
    } else this.#fallback.serverDown()
    if (this.#candidates().length === 0) this.#retry(v.do === 'retry' ? v.reason : (this.#fallback.reason ?? 'connect_failed'), detail)
  }


  /**
   * A hello before the connection was in use: a candidate won the race, or the background probe takes
   * over from SSE. Either way that connection becomes the active one.
   */
  #hello(c: C, hello: HelloFrame): void {
    let reason: StatusReason = 'ws_restored'
    if (c.role === 'probe') {
      this.#probe?.stop()
      if (hello.sid !== this.#sid || (!this.#active() && !this.#pendingLoss)) {
        // The server no longer has our session on this path; stay where we are (and end the stray new session).
        this.#drop(c, true)
        return this.#probeFailed()
      }
      this.#fallback.restored()
      const sse = this.#active()
      if (sse) this.#drop(sse)
    } else {
      clearTimeout(this.#headStart) // (the connect timeout gives way to the healthy timer below)
      for (const other of this.#candidates()) {
        if (other === c) continue
        this.#fallback.lost(other)
        this.#drop(other)
      }
      reason = this.#fallback.won(c.kind, this.#o.transports.includes('websocket'))
    }
    c.role = 'active'
    this.#pendingLoss = undefined
    this.#hb = hello.hb > 0 ? Math.min(hello.hb, MAX_TIMER_MS) : this.#hb
    this.#serverMaxFrame = hello.maxFrameBytes > 0 ? hello.maxFrameBytes : Infinity
    this.#tap?.hello(hello)
    const prevSid = this.#sid
    this.#sid = hello.sid
    if (prevSid !== undefined) {
      if (prevSid === hello.sid && hello.resumed) this.stats.resumes++
      else {
        this.stats.resets++
        this.emit('reset', { reason: hello.reset ?? 'session_unknown' })
      }
    }
    if (prevSid !== hello.sid) {
      this.#lastId = 0
      // A new server session knows none of our topics: subscribe again (unless a sub is already queued).
      // (Topics imply an outbox: subscribe() created it.)
      if (prevSid !== undefined) this.#outbox?.unshift(this.#unqueuedTopics().map((topic) => ({ t: 'sub' as const, topic })))
      this.#outbox?.renumber() // (also marks everything unsent)
    } else this.#outbox?.markAllUnsent()
    const limit = this.#limit()
    this.#outbox?.rejectLarger(limit, (bytes) => tooLarge(bytes, limit))
    this.#keepalive.start(c.kind, this.#hb, c.t, this.#lifecycle)
    this.#budget.proved('handshake')
    this.#arm(this.#o.healthyAfterMs, () => this.#budget.healthy())
    this.#setStatus('open', reason)
    if (c.kind === 'sse') {
      if (!this.#tap) warnHttp1(this.#endpoints.sse, (e) => this.emit('error', e))
      this.#scheduleProbe()
    } else this.#probe?.stop()
    this.#flush()
    this.#settle()
  }

  /** The active connection is gone. `refused`: the server refused a request on it (a failed attempt, not a drop). */
  #lost(reason: StatusReason, detail: string, refused = false): void {
    const probe = this.#conns.find((c) => c.role === 'probe')
    // A background probe is about to take over (the server ends the old stream once the probe's first
    // frame arrived, and that end may reach us before the probe's hello): wait for it; its hello or failure settles the loss.
    if (probe?.opened || (probe && reason === 'server_closed')) {
      this.#pendingLoss = { reason, detail, refused }
      if (probe.opened) this.#probe?.awaitHello(probe)
      return
    }
    this.#retry(reason, detail, refused)
  }

  /** Drop every connection, timer, the probe and the keepalive: what every way out of a connection shares. `bye`: tell the server the session is over. */
  #halt(bye = false): void {
    clearTimeout(this.#timer)
    clearTimeout(this.#headStart)
    this.#probe?.stop()
    this.#keepalive.stop()
    const conns = this.#conns
    this.#conns = []
    for (const c of conns) c.t.close(bye && c.role === 'active')
  }

  /** Schedule the next attempt with backoff. `failed`: this counts towards `maxAttempts` (everything but a drop). */
  #retry(reason: StatusReason, detail?: string, failed = true): void {
    this.#halt()
    if (this.#snapshot.status === 'closed') return
    if (!this.#budget.next(failed)) {
      return this.#shutdown('gave_up', new SurewireError('gave_up', `gave up after ${this.#o.maxAttempts} failed attempts in a row (last: ${reason}${detail ? `: ${detail}` : ''})`))
    }
    const n = this.#budget.attempt
    const delayMs = timerMs(this.#o.backoff?.(n) ?? defaultBackoff(n))
    this.#setStatus('reconnecting', reason, detail ? { delayMs, detail } : { delayMs })
    // A `status` listener may have called close() (or connect()) from inside that event.
    if (this.#snapshot.status === 'reconnecting') this.#arm(delayMs, () => void this.#startAttempt('retry'))
  }

  /** The protocol's auth signal (`status`: HTTP status or close code): one refresh-and-retry per healthy connection, then stop. */
  #authFailed(status: number, phase: 'handshake' | 'open'): void {
    if (this.#budget.authRefused(phase)) {
      this.#halt()
      void this.#startAttempt('auth_retry')
      return
    }
    this.#shutdown('auth_failed', new AuthError(`the server refused the credentials (${status >= 1000 ? 'close ' : status ? 'HTTP ' : ''}${status || 'unauthorized'})`, status))
  }

  /** The server said retrying cannot help (contract C2): stop, with its code and message on `error`. */
  #fatal(serverCode: string, message: string, status?: number): void {
    const hint = serverCode === 'origin_not_allowed' && (typeof process === 'object' && process.env.NODE_ENV !== 'production') ? ' (a proxy in front of the server must preserve Host, or configure the server: `trustForwardedHost` / `allowedOrigins`)' : ''
    this.#shutdown('fatal_error', new ServerRefusalError(serverCode, `the server refused for good: ${serverCode}: ${message}${hint}`, true, status))
  }

  #shutdown(reason: StatusReason, error: Error, bye = false): void {
    this.#halt(bye)
    this.#attemptId++
    this.#lifecycleOff?.()
    this.#lifecycleOff = undefined
    if (bye) {
      this.#sid = undefined
      this.#lastId = 0
    }
    this.#setStatus('closed', reason, reason === 'closed_by_client' ? {} : { error })
    if (reason !== 'closed_by_client') this.emit('error', error)
    this.#settle(error)
    this.#outbox?.rejectAll(error)
  }

  // ------------------------------------------------------------------ background probe back to WebSocket

  #scheduleProbe(): void {
    if (!this.#o.wsProbeIntervalMs || !this.#o.transports.includes('websocket') || !this.#WebSocket()) return
    this.#probe ??= new BackgroundProbe<C>(this.#o, {
      token: () => this.#token(),
      onSse: () => this.#active()?.kind === 'sse',
      open: (token) => (this.stats.attempts++, this.#open('websocket', 'probe', token)),
      drop: (c) => this.#drop(c),
      failed: () => this.#probeFailed(),
    })
    this.#probe.schedule()
  }

  #probeFailed(): void {
    this.#probe?.stop()
    const loss = this.#pendingLoss
    this.#pendingLoss = undefined
    if (loss) return this.#lost(loss.reason, loss.detail, loss.refused)
    if (this.#active()?.kind === 'sse') this.#scheduleProbe()
  }

  // ------------------------------------------------------------------ tabs sharing one connection

  /** This client's topics without a `sub` still queued. */
  #unqueuedTopics(): string[] {
    return [...(this.#topics ?? [])].filter((t) => !this.#outbox?.hasSub(t))
  }

  /** What the leader tab reports to this tab (src/client/share): this client mirrors its connection. */
  #fromLink(e: LinkEvent): unknown {
    switch (e.t) {
      case 'status': {
        const { status, transport, reason, attempt, error, ...extra } = e.s
        if (status === 'closed') return this.#snapshot.status === 'closed' || this.#shutdown(reason!, error ?? new SurewireError('client_closed', 'closed'))
        // While the leader is open, this tab's frames go to it (a connection of the state machine's kind).
        this.#conns = status === 'open' ? [this.#leaderConn(transport!)] : []
        this.#budget.attempt = attempt
        this.#serverMaxFrame = e.maxFrameBytes ?? Infinity
        const was = this.#snapshot // the same status again (a tab joining, a new leader): no event
        if (status !== was.status || reason !== was.reason || transport !== was.transport || attempt !== was.attempt) this.#setStatus(status, reason!, extra)
        if (status !== 'open') return
        this.#outbox?.markAllUnsent() // a new leader learns our unanswered frames (it drops those it has)
        this.#flush()
        this.#settle()
        return
      }
      case 'msg':
        return (e.topic === undefined || this.#topics?.has(e.topic)) && this.#inbox.push(e.d)
      case 'ack':
        return this.#outbox?.ack(e.seq)
      case 'nack':
        return this.#outbox?.nack(e.seq, e.error)
      case 'error':
        return this.emit('error', e.error)
      case 'reset':
        this.stats.resets++
        return this.emit('reset', { reason: e.reason })
      case 'topics': // the subscriptions the server has confirmed (unconfirmed ones are resent)
        return this.#unqueuedTopics()
    }
  }

  /** The leader's connection as this tab's state machine sees it: frames go to the leader. Its transport reports nothing here. */
  #leaderConn(kind: TransportKind): C {
    const c = new Conn(this, kind, 'active') // its transport never reports
    c.t = { send: (f) => this.#link!.send(f as never), close: noop }
    return c
  }

  // ------------------------------------------------------------------ lifecycle

  #onLifecycle(event: 'online' | 'offline' | 'visible'): void {
    const active = this.#active()
    if (event === 'offline') {
      if (active) {
        this.#drop(active)
        this.#lost('network_offline', 'the browser reported offline')
      }
      return
    }
    if (this.#snapshot.status === 'reconnecting') return void this.#startAttempt(event === 'online' ? 'network_online' : 'visible')
    if (active) this.#keepalive.ping() // health check at once (WebSocket)
  }
}


/** A message over the limit: `maxMessageBytes`, or the frame limit of the server's hello. */
const tooLarge = (bytes: number, limit: number): SurewireError =>
  new SurewireError('too_large', `message is ${bytes} bytes; the limit is ${limit}${(typeof process === 'object' && process.env.NODE_ENV !== 'production') ? ' (maxMessageBytes / server maxFrameBytes)' : ''}`)

/** A transport that is not (or no longer) there: sends nothing. */
const noTransport: Transport = { send: noop, close: noop }

/** Every client's snapshot before its first connect(). */
const idle: ClientSnapshot = /* @__PURE__ */ Object.freeze({ status: 'idle', transport: null, reason: null, attempt: 0 })

/** Clients without storage share one memory that remembers nothing. */
const noMemory = /* @__PURE__ */ new FallbackMemory(null, '', 0)
