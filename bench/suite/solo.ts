/**
 * One-stack server worker (its own process, started by bench/run.ts with fork()): surewire's
 * reference server, socket.io or raw `ws` ALONE on 127.0.0.1, running the same application as
 * server.ts (app.ts). For the measurements where another stack in the same process would be in the
 * way: round trip of each stack alone, server heap per idle connection (run with --expose-gc),
 * broadcast fan-out. argv[2] is the stack (SoloStack). Answers the runner's SoloRequest messages
 * with `{ id, result }`.
 */
import { createServer } from 'node:http'
import { writeHeapSnapshot } from 'node:v8'
import { listen, pushLoop, rawWsApp, socketIoApp, surewireApp } from './app'
import { cpuNow, heapAfterGc, type SoloReady, type SoloRequest, type SoloStack } from './shared'

const stack = process.argv[2] as SoloStack
const http = createServer((_req, res) => res.writeHead(404).end())
http.maxConnections = Infinity

let connections: () => number
let broadcast: (i: number) => void
let shutdown: () => Promise<void>
if (stack === 'surewire') {
  const realtime = surewireApp(http)
  connections = () => realtime.connections.filter((c) => c.transport !== null).length
  broadcast = (i) => void realtime.broadcast({ type: 'tick', n: i })
  shutdown = () => realtime.close()
} else if (stack === 'socketio') {
  const io = socketIoApp(http)
  connections = () => io.of('/').sockets.size
  broadcast = (i) => void io.emit('tick', { type: 'tick', n: i })
  shutdown = async () => void (await io.close())
} else if (stack === 'raw-ws') {
  const wss = rawWsApp(http)
  connections = () => wss.clients.size
  broadcast = (i) => {
    const text = JSON.stringify({ type: 'tick', n: i })
    for (const c of wss.clients) c.send(text)
  }
  shutdown = async () => {
    for (const c of wss.clients) c.terminate()
  }
} else throw new Error(`unknown stack ${stack}`)

const port = await listen(http)


async function answer(req: SoloRequest): Promise<unknown> {
  switch (req.cmd) {
    case 'cpu':
      return cpuNow()
    case 'connections':
      return connections()
    case 'heap':
      return heapAfterGc()
    case 'snapshot':
      await heapAfterGc()
      return writeHeapSnapshot(req.file)
    case 'broadcast':
      // Returns when the last broadcast() call has returned: the clients report when it arrived.
      return new Promise((resolve) => {
        const t0 = performance.timeOrigin + performance.now()
        pushLoop(req.n, (i) => {
          broadcast(i)
          if (i === req.n) resolve(t0)
        }, req.burst)
      })
    case 'exit':
      await shutdown()
      http.closeAllConnections()
      return true
  }
}

process.on('message', (req: SoloRequest) => {
  void answer(req).then(
    (result) => process.send!({ id: req.id, result }, () => req.cmd === 'exit' && process.exit(0)),
    (err: unknown) => process.send!({ id: req.id, error: String(err) }),
  )
})
process.on('disconnect', () => process.exit(0)) // the runner went away

const ready: SoloReady = { port }
process.send!({ ready })
