import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { Emitter } from '../emitter'
import { ConfigError, ValidationError } from '../errors'
import { QUERY } from '../protocol'
import { isStandardSchema, type InferIn, type StandardSchemaV1 } from '../schema'
import { handleHttp } from './http'
import { defaultIdentify, originAllowed, serverDefaults, type ServerOptions } from './options'
import { Connection, Session, type SessionHost, type Sink } from './session'
import { handleWebSocket } from './ws'

export interface ServerEvents<In extends StandardSchemaV1, Out extends StandardSchemaV1> {
  /** A new client session (not fired again when the same client reconnects or switches transport). */
  connection: Connection<In, Out>
  /** An error the server survived: a throwing handler, a failing authenticate(). */
  error: unknown
}

/** Parameters of a transport connection, read from its request. */
export interface OpenRequest {
  sid: string | undefined
  last: number | undefined
  user: unknown
}

/**
 * The reference server: WebSocket, SSE and POST under one path on a Node http
 * server, with the same semantics on every transport.
 */
export class RealtimeServer<In extends StandardSchemaV1, Out extends StandardSchemaV1> extends Emitter<ServerEvents<In, Out>> {
  readonly options: Required<Omit<ServerOptions<In, Out>, 'authenticate' | 'authorizeSubscribe' | 'identify' | 'replayWindowMs'>> &
    Pick<ServerOptions<In, Out>, 'authenticate' | 'authorizeSubscribe' | 'replayWindowMs'> & { identify: (u: unknown) => string }
  /** @internal */ readonly sessions = new Map<string, Session>()
  /** @internal */ readonly wss: WebSocketServer
  /** @internal */ readonly host: SessionHost
  /** @internal */ readonly sseSinks = new Set<Sink>()
  /** @internal */ readonly wsLastSeen = new Map<WebSocket, number>()
  #sweep: ReturnType<typeof setInterval> | undefined
  #detachers: (() => void)[] = []
  #closed = false

  constructor(options: ServerOptions<In, Out>) {
    super()
    for (const k of ['incoming', 'outgoing'] as const) {
      if (!isStandardSchema(options?.[k])) throw new ConfigError(`createRealtimeServer: \`${k}\` must be a Standard Schema (zod ≥ 3.24, valibot, arktype)`)
    }
    const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined))
    this.options = { ...serverDefaults, identify: defaultIdentify, ...defined } as RealtimeServer<In, Out>['options']
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.options.maxFrameBytes, perMessageDeflate: false })
    const o = this.options
    this.host = {
      replay: {
        maxMessages: o.replayWindow,
        maxBytes: o.replayWindowBytes,
        maxAgeMs: o.replayWindowMs ?? 2 * o.sessionTtlMs,
        maxTotalBytes: o.maxReplayBytes,
        used: { bytes: 0 },
      },
      resendWindow: o.resendWindow,
      maxInboundPerSecond: o.maxInboundPerSecond,
      validateOutgoing: (m) => this.#validateOutgoing(m),
      validateIncoming: (m) => o.incoming['~standard'].validate(m),
      authorizeSubscribe: (conn, topic) => (o.authorizeSubscribe ? o.authorizeSubscribe(conn as Connection<In, Out>, topic) : true),
      onEnd: (s) => this.sessions.delete(s.sid),
      onError: (err) => this.emit('error', err),
    }
  }

  /** Serve the realtime path on `server` (upgrade + requests). Other paths reach the server's own handlers. */
  attach(server: Server): this {
    const previous = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[]
    server.removeAllListeners('request')
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      if (this.handleRequest(req, res)) return
      if (previous.length === 0) {
        res.writeHead(404).end()
        return
      }
      for (const l of previous) l.call(server, req, res)
    }
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.handleUpgrade(req, socket, head)) return
      if (server.listenerCount('upgrade') === 1) socket.destroy()
    }
    server.on('request', onRequest)
    server.on('upgrade', onUpgrade)
    this.#detachers.push(() => {
      server.off('request', onRequest)
      server.off('upgrade', onUpgrade)
      for (const l of previous) server.on('request', l)
    })
    this.startSweep()
    return this
  }

  /** For frameworks: handle SSE/POST if `req` is for the realtime path; returns false otherwise. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    if (!this.#matches(req)) return false
    this.startSweep()
    void handleHttp(this, req, res).catch((err) => {
      this.emit('error', err)
      if (!res.headersSent) res.writeHead(500).end()
      else res.end()
    })
    return true
  }

  /** For frameworks: handle a WebSocket upgrade if `req` is for the realtime path; returns false otherwise. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (!this.#matches(req)) return false
    this.startSweep()
    socket.on('error', () => {}) // resets during the handshake must not crash the process
    if (!originAllowed(this.options.allowedOrigins, req.headers.origin, req.headers.host)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nOrigin not allowed\n')
      return true
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => void handleWebSocket(this, ws, req, socket).catch((err) => this.emit('error', err)))
    return true
  }

  /** Send to every connected (or resumable) session. */
  broadcast(message: InferIn<Out>): void {
    const payload = JSON.stringify(this.#validateOutgoing(message))
    for (const s of this.sessions.values()) s.sendPayload(payload)
  }

  /** Send to sessions subscribed to `topic`. */
  publish(topic: string, message: InferIn<Out>): void {
    const payload = JSON.stringify(this.#validateOutgoing(message))
    for (const s of this.sessions.values()) if (s.topics.has(topic)) s.sendPayload(payload)
  }

  get connections(): Connection<In, Out>[] {
    return [...this.sessions.values()].map((s) => s.conn as Connection<In, Out>)
  }

  /** Close every connection (clients see "going away" and reconnect elsewhere) and detach from the http server. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#sweep)
    for (const d of this.#detachers.splice(0)) d()
    for (const s of [...this.sessions.values()]) s.end('server_closed')
    // Give close frames (1001) a moment to reach clients, then cut whatever is left.
    const open = [...this.wss.clients]
    let grace: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      Promise.all(open.map((ws) => new Promise<void>((r) => (ws.readyState === ws.CLOSED ? r() : ws.once('close', () => r()))))),
      new Promise<void>((r) => (grace = setTimeout(r, 1_000)).unref?.()),
    ])
    clearTimeout(grace) // no timer outlives close()
    for (const ws of this.wss.clients) ws.terminate()
    await new Promise<void>((r) => this.wss.close(() => r()))
  }

  // ------------------------------------------------------------------ internals shared with ws.ts / http.ts

  /** @internal Find or create the session for a new transport connection and attach `sink`. */
  open(sink: Sink, req: OpenRequest): Session {
    const o = this.options
    let session = req.sid ? this.sessions.get(req.sid) : undefined
    if (session && o.identify(session.user) !== o.identify(req.user)) session = undefined
    const isNew = !session
    if (!session) {
      session = new Session(this.host, req.user)
      this.sessions.set(session.sid, session)
    }
    clearTimeout(session.expiry)
    if (isNew) this.#announce(session)
    const hello = { hb: o.heartbeatIntervalMs, maxFrameBytes: o.maxFrameBytes }
    // A client that asked to resume a session we do not have is told so (hello.reset) and can refetch.
    const resume = req.sid === undefined ? 'none' : isNew ? 'unknown' : (req.last ?? 0)
    session.attach(sink, hello, resume)
    return session
  }

  /** `connection` listeners run; one that throws (or rejects) is reported on `error`, and the session carries on. */
  #announce(session: Session): void {
    const r = this.emitReporting('connection', session.conn as Connection<In, Out>)
    const report = (errors: unknown[]) => errors.forEach((err) => this.emit('error', err))
    if (Array.isArray(r)) report(r)
    else void r.then(report)
  }

  /** @internal A transport connection ended; start the resume window. */
  detach(session: Session, sink: Sink): void {
    if (!session.detach(sink) || session.ended) return
    clearTimeout(session.expiry)
    session.expiry = setTimeout(() => session.end('expired'), this.options.sessionTtlMs)
    session.expiry.unref?.()
  }

  /** @internal */
  parseOpen(req: IncomingMessage): { sid: string | undefined; last: number | undefined } {
    const q = new URL(req.url ?? '/', 'http://x').searchParams
    const sid = q.get(QUERY.session) ?? undefined
    const raw = (req.headers['last-event-id'] as string | undefined) ?? q.get(QUERY.lastId) ?? undefined
    const n = raw === undefined ? NaN : Number(raw)
    return { sid, last: Number.isSafeInteger(n) && n >= 0 ? n : undefined }
  }

  /** @internal Runs authenticate(); `undefined` result means refused. Errors are reported and count as refused. */
  async authenticate(req: IncomingMessage): Promise<{ ok: true; user: unknown } | { ok: false; failed?: boolean }> {
    const auth = this.options.authenticate
    if (!auth) return { ok: true, user: null }
    try {
      const user = await auth(req)
      return user === null || user === undefined || user === false ? { ok: false } : { ok: true, user }
    } catch (err) {
      // authenticate() failing (auth backend down) is not a refusal: the client may retry.
      this.emit('error', err)
      return { ok: false, failed: true }
    }
  }

  /** @internal */
  reportError(err: unknown): void {
    this.emit('error', err)
  }

  #matches(req: IncomingMessage): boolean {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    return path === this.options.path || path === this.options.path + '/'
  }

  #validateOutgoing(message: unknown): unknown {
    const r = this.options.outgoing['~standard'].validate(message)
    if (r instanceof Promise) throw new ConfigError('the `outgoing` schema validates asynchronously; the server needs a synchronous schema for send()')
    if (r.issues) throw new ValidationError(r.issues, 'outgoing')
    return r.value
  }

  /** @internal One timer for all connections: SSE heartbeats and WebSocket idle checks (also started by the fetch handler). */
  startSweep(): void {
    if (this.#sweep || this.#closed) return
    const hb = this.options.heartbeatIntervalMs
    const beat = '{"t":"hb"}'
    this.#sweep = setInterval(() => {
      for (const s of this.sseSinks) s.write(beat)
      const now = Date.now()
      for (const [ws, seen] of this.wsLastSeen) if (now - seen > 3 * hb) ws.close(4408, 'no ping from client')
    }, hb)
    this.#sweep.unref?.()
  }
}

/** Create the reference server. Call `attach(httpServer)` to serve it. */
export function createRealtimeServer<In extends StandardSchemaV1, Out extends StandardSchemaV1>(
  options: ServerOptions<In, Out>,
): RealtimeServer<In, Out> {
  return new RealtimeServer(options)
}
