import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocket } from 'ws'
import { createRealtimeServer, type RealtimeServer, type ServerOptions } from '../../src/server'
import { RealtimeClient, type ClientOptions, type WebSocketConstructor } from '../../src'
import { ClientMessage, ServerMessage } from './schemas'

export type TestRealtime = RealtimeServer<typeof ClientMessage, typeof ServerMessage>

export interface TestServer {
  realtime: TestRealtime
  http: Server
  port: number
  url: string
  /** Clients echo: every `echo` message comes back to its sender. */
  close(): Promise<void>
}

/** The reference server on 127.0.0.1:0 with an echo handler. */
export async function startServer(
  options: Partial<ServerOptions<typeof ClientMessage, typeof ServerMessage>> = {},
  port = 0,
): Promise<TestServer> {
  const http = createServer((_req, res) => res.writeHead(404).end())
  const realtime = createRealtimeServer({ incoming: ClientMessage, outgoing: ServerMessage, ...options })
  realtime.attach(http)
  realtime.on('connection', (conn) => {
    conn.on('message', (m) => {
      if (m.type === 'echo') void conn.send({ type: 'echo', text: m.text })
    })
  })
  await new Promise<void>((r) => http.listen(port, '127.0.0.1', r))
  const p = (http.address() as AddressInfo).port
  return {
    realtime,
    http,
    port: p,
    url: `http://127.0.0.1:${p}/realtime`,
    async close() {
      await realtime.close()
      http.closeAllConnections()
      await new Promise<void>((r) => http.close(() => r()))
    },
  }
}

/** The WebSocket implementation under test: Node's own when it has one (Node ≥ 22), else `ws`. */
export const TestWebSocket: WebSocketConstructor =
  process.env.SUREWIRE_WS === 'ws' || !(globalThis as { WebSocket?: unknown }).WebSocket
    ? (WebSocket as unknown as WebSocketConstructor)
    : (globalThis as unknown as { WebSocket: WebSocketConstructor }).WebSocket

type Opts = Partial<ClientOptions<typeof ServerMessage, typeof ClientMessage>>

const clients = new Set<RealtimeClient<typeof ServerMessage, typeof ClientMessage>>()

/** A client with test-friendly defaults: instant backoff, no shared fallback memory. Closed by closeClients(). */
export function makeClient(url: string, opts: Opts = {}) {
  const c = new RealtimeClient({
    url,
    incoming: ServerMessage,
    outgoing: ClientMessage,
    WebSocket: TestWebSocket,
    backoff: () => 0,
    storage: null,
    lifecycle: null,
    ...opts,
  })
  clients.add(c)
  return c
}

export function closeClients(): void {
  for (const c of clients) c.close()
  clients.clear()
}

/** Resolve when `pred` holds for an event payload; reject after `ms` (generous; a bound, not a sleep). */
export function waitFor<T>(
  subscribe: (fn: (v: T) => void) => () => void,
  pred: (v: T) => boolean = () => true,
  ms = 15_000,
  what = 'event',
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`))
    }, ms)
    const off = subscribe((v) => {
      if (!pred(v)) return
      clearTimeout(timer)
      off()
      resolve(v)
    })
  })
}

/** Poll a condition driven by real I/O (for server-side state with no event). */
export async function until(cond: () => boolean, ms = 15_000, what = 'condition'): Promise<void> {
  const start = Date.now()
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
