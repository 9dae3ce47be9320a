import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { Emitter } from '../emitter'
import type { InferIn, StandardSchemaV1 } from '../schema'
import type { Connection } from './connection'
import { bindCore, ServerCore } from './core/core'
import { serveNodeRequest, serveNodeUpgrade } from './node/http'
import { resolveDrainOptions, resolveServerOptions, type DrainOptions, type ResolvedServerOptions, type ServerOptions } from './options'

export interface ServerEvents<In extends StandardSchemaV1, Out extends StandardSchemaV1> {
  /** A new client session (not fired again when the same client reconnects or switches transport). */
  connection: Connection<In, Out>
  /** An error the server survived: a throwing handler, a failing authenticate(). Never fired for a misbehaving client. */
  error: unknown
}

/**
 * The reference server: WebSocket, SSE and POST under one path, with the same semantics on every
 * transport. Serve it on node:http with `attach()` (or `handleRequest` / `handleUpgrade`), and on
 * any Fetch runtime with `createFetchHandler(realtime)`.
 */
export class RealtimeServer<In extends StandardSchemaV1, Out extends StandardSchemaV1> extends Emitter<ServerEvents<In, Out>> {
  /** The options in effect: validated, with every default applied. */
  readonly options: ResolvedServerOptions<In, Out>
  readonly #core: ServerCore
  #detachers: (() => void)[] = []
  /** The http servers given to attach(): drain() stops them listening. */
  readonly #servers = new Set<Server>()

  constructor(options: ServerOptions<In, Out>) {
    super()
    this.options = resolveServerOptions(options)
    this.#core = new ServerCore(this.options as ResolvedServerOptions, {
      connection: (conn) => this.#announce(conn as unknown as Connection<In, Out>),
      error: (err) => this.emit('error', err),
    })
    bindCore(this, this.#core)
  }

  /** `connection` listeners run; one that throws (or rejects) is reported on `error`, and the session carries on. */
  #announce(conn: Connection<In, Out>): void {
    const r = this.emitReporting('connection', conn)
    const report = (errors: unknown[]) => errors.forEach((err) => this.emit('error', err))
    if (Array.isArray(r)) report(r)
    else void r.then(report)
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
    this.#servers.add(server)
    this.#detachers.push(() => {
      this.#servers.delete(server)
      server.off('request', onRequest)
      server.off('upgrade', onUpgrade)
      for (const l of previous) server.on('request', l)
    })
    this.#core.startSweep()
    return this
  }

  /** For frameworks: handle SSE/POST if `req` is for the realtime path; returns false otherwise. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    if (!this.#core.matches(req.url ?? '/')) return false
    void serveNodeRequest(this.#core, req, res).catch((err) => {
      this.emit('error', err)
      if (!res.headersSent) res.writeHead(500).end()
      else res.end()
    })
    return true
  }

  /** For frameworks: handle a WebSocket upgrade if `req` is for the realtime path; returns false otherwise. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (!this.#core.matches(req.url ?? '/')) return false
    serveNodeUpgrade(this.#core, req, socket, head)
    return true
  }

  /**
   * Send to every connected (or resumable) session, on every process sharing the `broker`.
   * Throws at once on an invalid message. The promise resolves when the broker holds it and this
   * process has delivered it to its own sessions (at once with the default in-memory broker, where
   * delivery is synchronous), so a `conn.send()` made after it reaches the client after it (with
   * `surewire/redis`: unless this process's fan-out reader is down for longer than
   * `commandTimeoutMs`); awaiting it is optional.
   */
  broadcast(message: InferIn<Out>): Promise<void> {
    return this.#core.sessions.deliver(message)
  }

  /** Send to sessions subscribed to `topic`, on every process sharing the `broker` (see {@link broadcast}). */
  publish(topic: string, message: InferIn<Out>): Promise<void> {
    return this.#core.sessions.deliver(message, topic)
  }

  get connections(): Connection<In, Out>[] {
    return [...this.#core.sessions.sessions.values()].map((s) => s.conn as unknown as Connection<In, Out>)
  }

  /**
   * Shut this process down gracefully, for rolling deploys (docs/DEPLOYMENT.md "More than one
   * process"). It stops accepting new transports at once: every http server given to `attach()`
   * stops listening (`server.close()`: the load balancer's next connection goes to another
   * process; open connections stay), and an SSE stream or WebSocket that still reaches this server
   * (`handleRequest`, `handleUpgrade`, `createFetchHandler`) is refused (SSE: 503 `server_error`;
   * WebSocket: close 1012), which clients retry. POSTs keep being served. Then it closes each
   * client's transport with 1012 ("service restart") at its own random moment within `windowMs`,
   * so the clients reconnect to the other processes spread out, not all at once. Then it hands its
   * sessions over and closes like {@link close}; it resolves when done.
   *
   * On a broker that shares sessions (`createRedisBroker`), the next process a client reaches
   * adopts its session: it resumes with nothing lost. With the default in-memory broker sessions
   * live in this process only: the clients reconnect to whatever process the load balancer picks
   * and start a new session there (`reset: 'session_unknown'`).
   */
  async drain(options: DrainOptions = {}): Promise<void> {
    const { windowMs } = resolveDrainOptions(options)
    for (const server of this.#servers) server.close()
    await this.#core.drain(windowMs)
    await this.close()
  }

  /** Close every connection (clients see "going away" and reconnect elsewhere) and detach from the http server. */
  async close(): Promise<void> {
    for (const d of this.#detachers.splice(0)) d()
    await this.#core.close()
  }
}

/** Create the reference server. Call `attach(httpServer)` to serve it, or pass it to `createFetchHandler`. */
export function createRealtimeServer<In extends StandardSchemaV1, Out extends StandardSchemaV1>(
  options: ServerOptions<In, Out>,
): RealtimeServer<In, Out> {
  return new RealtimeServer(options)
}
