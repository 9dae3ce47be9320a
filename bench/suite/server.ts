/**
 * Bench server worker (its own process, started by bench/run.ts with fork()).
 * Listens on 127.0.0.1 with four servers that all speak the same little
 * application protocol (see BenchMsg):
 *
 *   surewire   the reference server (WebSocket + SSE + POST), no schema (passthrough)
 *   socketio   socket.io with its defaults (polling + websocket)
 *   rawWs      `ws` with nothing on top: JSON text frames; path /batched corks the socket per tick
 *   rawSse     node:http writing `data: <json>\n\n`: GET /sse?n=N pushes N messages and ends;
 *              &batch=1 writes the events of one tick in one write
 *
 * and the test proxy (test/support/proxy.ts) in pass / refuse / hang mode in
 * front of surewire and socket.io. Every server answers
 *   push {n}        with n `tick` messages, PUSH_BURST per event-loop turn
 *   echo {n}        with echo {n}
 *   count {n, of}   by counting; after the one with n === of, done {n: how many arrived}
 * and greets each new connection with `welcome` (the "first message" of the connect benchmark).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server as IoServer } from 'socket.io'
import { WebSocketServer } from 'ws'
import { createRealtimeServer } from '../../src/server/index'
import { startProxy, type TestProxy } from '../../test/support/proxy'
import { PUSH_BURST, passthrough, type BenchMsg, type ProxyModeName, type ServerPorts, type ServerRequest } from './shared'

/** Call `send(i)` for i = 1..n, PUSH_BURST at a time, yielding to the event loop between bursts. */
function pushLoop(n: number, send: (i: number) => void): void {
  let i = 0
  const burst = () => {
    const end = Math.min(n, i + PUSH_BURST)
    while (i < end) send(++i)
    if (i < n) setImmediate(burst)
  }
  burst()
}

/** The shared application logic; `reply` sends one message back to the same client. */
function handler(reply: (m: BenchMsg) => void): (m: BenchMsg) => void {
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

const listen = (http: Server) =>
  new Promise<number>((resolve) => http.listen(0, '127.0.0.1', () => resolve((http.address() as AddressInfo).port)))

let nextId = 0
const welcome = (): BenchMsg => ({ type: 'welcome', id: `c${++nextId}` })

// ------------------------------------------------------------------ surewire
const surewireHttp = createServer((_req, res) => res.writeHead(404).end())
/**
 * The push task sends 220,000 messages (~12 MB of frames) with no flow control, as fast as the
 * server can. The raw servers, ws and socket.io buffer that without bound; surewire's default
 * bound (maxBufferedBytes, 4 MiB) closes a client that falls 4 MiB behind as a slow consumer, and
 * its replay (replayWindowBytes, 1 MiB) cannot cover such a backlog, so the client gets a reset and
 * the rest of the run never arrives. That happens whenever the client process is descheduled long
 * enough (a loaded machine). The bench measures throughput, not that policy: room for a whole run.
 */
const PUSH_MAX_BUFFERED_BYTES = 64 * 1024 * 1024
const realtime = createRealtimeServer({ incoming: passthrough, outgoing: passthrough, maxBufferedBytes: PUSH_MAX_BUFFERED_BYTES }).attach(surewireHttp)
realtime.on('connection', (conn) => {
  void conn.send(welcome())
  conn.on('message', handler((m) => conn.send(m)))
})
realtime.on('error', (err) => console.error('surewire server error:', err))

// ------------------------------------------------------------------ socket.io
const ioHttp = createServer()
const io = new IoServer(ioHttp, { serveClient: false })
io.on('connection', (socket) => {
  socket.emit('welcome', welcome())
  const h = handler((m) => socket.emit(m.type, m))
  socket.on('push', h)
  socket.on('echo', h)
  socket.on('count', h)
})

// ------------------------------------------------------------------ raw ws
const wsHttp = createServer((_req, res) => res.writeHead(404).end())
const wss = new WebSocketServer({ server: wsHttp, perMessageDeflate: false })
wss.on('connection', (ws, req) => {
  ws.send(JSON.stringify(welcome()))
  // Path /batched: cork the socket for the rest of the tick on the first write (as surewire's server does).
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

// ------------------------------------------------------------------ raw SSE
const sseHttp = createServer((req: IncomingMessage, res: ServerResponse) => {
  const url = new URL(req.url ?? '/', 'http://x')
  if (req.method !== 'GET' || url.pathname !== '/sse') return void res.writeHead(404).end()
  const n = Number(url.searchParams.get('n') ?? 0)
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' })
  req.socket.setNoDelay(true)
  // ?batch=1: the events of one tick in one write (as surewire's server does); else one write per event.
  const batched = url.searchParams.get('batch') === '1'
  let pending = ''
  const flush = () => {
    res.write(pending)
    pending = ''
  }
  let left = n
  pushLoop(n, (i) => {
    const event = `data: ${JSON.stringify({ type: 'tick', n: i })}\n\n`
    if (!batched) res.write(event)
    else {
      if (!pending) process.nextTick(flush)
      pending += event
    }
    if (--left === 0) process.nextTick(() => res.end())
  })
  if (n === 0) res.end()
})

// ------------------------------------------------------------------ listen, proxies, control
const ports = {
  surewire: await listen(surewireHttp),
  socketio: await listen(ioHttp),
  rawWs: await listen(wsHttp),
  rawSse: await listen(sseHttp),
}
const modes: ProxyModeName[] = ['pass', 'refuse', 'hang']
const proxies: Record<'surewire' | 'socketio', Record<ProxyModeName, TestProxy>> = { surewire: {}, socketio: {} } as never
for (const target of ['surewire', 'socketio'] as const) {
  for (const mode of modes) proxies[target][mode] = await startProxy({ targetPort: ports[target], mode, refuseStatus: 400 })
}
const proxyPorts = (t: 'surewire' | 'socketio') => Object.fromEntries(modes.map((m) => [m, proxies[t][m].port])) as Record<ProxyModeName, number>
const ready: ServerPorts = { ...ports, proxies: { surewire: proxyPorts('surewire'), socketio: proxyPorts('socketio') } }

process.on('message', (req: ServerRequest) => {
  switch (req.cmd) {
    case 'cpu': {
      const u = process.cpuUsage()
      return process.send!({ id: req.id, result: u.user + u.system })
    }
    case 'proxyStats':
      return process.send!({
        id: req.id,
        result: Object.fromEntries(
          (['surewire', 'socketio'] as const).map((t) => [t, Object.fromEntries(modes.map((m) => [m, { ...proxies[t][m].stats }]))]),
        ),
      })
    case 'exit':
      void shutdown().then(() => process.send!({ id: req.id, result: true }, () => process.exit(0)))
  }
})
process.on('disconnect', () => process.exit(0)) // the runner went away

async function shutdown(): Promise<void> {
  for (const t of Object.values(proxies)) for (const p of Object.values(t)) await p.close()
  await realtime.close()
  void io.close()
  for (const c of wss.clients) c.terminate()
  for (const s of [surewireHttp, ioHttp, wsHttp, sseHttp]) s.closeAllConnections()
}

process.send!({ ready })
