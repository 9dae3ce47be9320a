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
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { startProxy, type TestProxy } from '../../test/support/proxy'
import { listen, pushLoop, rawWsApp, socketIoApp, surewireApp } from './app'
import { cpuNow, type ProxyModeName, type ServerPorts, type ServerRequest } from './shared'

// ------------------------------------------------------------------ surewire, socket.io, raw ws (app.ts)
const surewireHttp = createServer((_req, res) => res.writeHead(404).end())
const realtime = surewireApp(surewireHttp)
const ioHttp = createServer()
const io = socketIoApp(ioHttp)
const wsHttp = createServer((_req, res) => res.writeHead(404).end())
const wss = rawWsApp(wsHttp)

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
    case 'cpu':
      return process.send!({ id: req.id, result: cpuNow() })
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
