/**
 * The bench's little application, shared by the all-in-one server worker (server.ts) and the
 * one-stack server worker (solo.ts): the message handler every stack runs, and each stack's
 * server set up on a node:http server.
 */
import type { IncomingMessage, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server as IoServer } from 'socket.io'
import { WebSocketServer } from 'ws'
import { createRealtimeServer, type RealtimeServer } from '../../src/server/index'
import { PUSH_BURST, passthrough, type BenchMsg } from './shared'

/** Call `send(i)` for i = 1..n, PUSH_BURST at a time, yielding to the event loop between bursts. */
export function pushLoop(n: number, send: (i: number) => void, burstSize = PUSH_BURST): void {
  let i = 0
  const burst = () => {
    const end = Math.min(n, i + burstSize)
    while (i < end) send(++i)
    if (i < n) setImmediate(burst)
  }
  burst()
}

/** The shared application logic; `reply` sends one message back to the same client. */
export function handler(reply: (m: BenchMsg) => void): (m: BenchMsg) => void {
  let counted = 0
  return (m) => {
    switch (m.type) {
      case 'push':
        return pushLoop(m.n, (i) => reply({ type: 'tick', n: i }))
      case 'echo':
        return reply({ type: 'echo', n: m.n })
      case 'count':
        counted++
        if (m.n === m.of) {
          reply({ type: 'done', n: counted })
          counted = 0
        }
        return
    }
  }
}

export const listen = (http: Server) =>
  new Promise<number>((resolve) => http.listen(0, '127.0.0.1', () => resolve((http.address() as AddressInfo).port)))

let nextId = 0
export const welcome = (): BenchMsg => ({ type: 'welcome', id: `c${++nextId}` })

type Realtime = RealtimeServer<typeof passthrough, typeof passthrough>

/**
 * The push task sends 220,000 messages (~12 MB of frames) with no flow control, as fast as the
 * server can. The raw servers, ws and socket.io buffer that without bound; surewire's default
 * bound (maxBufferedBytes, 4 MiB) closes a client that falls 4 MiB behind as a slow consumer, and
 * its replay (replayWindowBytes, 1 MiB) cannot cover such a backlog, so the client gets a reset and
 * the rest of the run never arrives. That happens whenever the client process is descheduled long
 * enough (a loaded machine). The bench measures throughput, not that policy: room for a whole run.
 */
const PUSH_MAX_BUFFERED_BYTES = 64 * 1024 * 1024

/** surewire's reference server (WebSocket + SSE + POST) on `http`, no schema. */
export function surewireApp(http: Server): Realtime {
  const realtime = createRealtimeServer({ incoming: passthrough, outgoing: passthrough, maxBufferedBytes: PUSH_MAX_BUFFERED_BYTES }).attach(http)
  realtime.on('connection', (conn) => {
    void conn.send(welcome())
    conn.on('message', handler((m) => void conn.send(m)))
  })
  realtime.on('error', (err) => console.error('surewire server error:', err))
  return realtime
}

/** socket.io with its defaults (polling + websocket) on `http`. */
export function socketIoApp(http: Server): IoServer {
  const io = new IoServer(http, { serveClient: false })
  io.on('connection', (socket) => {
    socket.emit('welcome', welcome())
    const h = handler((m) => socket.emit(m.type, m))
    socket.on('push', h)
    socket.on('echo', h)
    socket.on('count', h)
  })
  return io
}

/** `ws` with nothing on top: JSON text frames. Path /batched corks the socket for the rest of the tick on the first write (as surewire's server does). */
export function rawWsApp(http: Server): WebSocketServer {
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false })
  wss.on('connection', (ws, req: IncomingMessage) => {
    ws.send(JSON.stringify(welcome()))
    const batched = req.url === '/batched'
    let corked = false
    const uncork = () => {
      corked = false
      req.socket.uncork()
    }
    const h = handler((m) => {
      if (batched && !corked) {
        corked = true
        req.socket.cork()
        process.nextTick(uncork)
      }
      ws.send(JSON.stringify(m))
    })
    ws.on('message', (data) => h(JSON.parse(data.toString()) as BenchMsg))
  })
  return wss
}
