/**
 * Client fleet worker (its own process, started by bench/run.ts with fork()): `clients` connections
 * of one kind to one server on 127.0.0.1, opened 100 at a time, then held idle (server heap) or
 * counting broadcast `tick`s (fan-out). argv[2] is the FleetTask. Talks FleetCommand / FleetReport.
 */
import { io } from 'socket.io-client'
import { WebSocket } from 'ws'
import { RealtimeClient, type WebSocketConstructor } from '../../src/index'
import type { BenchMsg, FleetCommand, FleetReport, FleetTask } from './shared'
import { cpuNow, passthrough, socketIoIdle } from './shared'

const task = JSON.parse(process.argv[2]!) as FleetTask
const noop = () => {}
const send = (m: FleetReport) => process.send!(m)

interface Idle {
  ready: Promise<unknown>
  close(): void
}

/** Ticks seen by every client; `want` per client, `left` clients still short of it. */
let want = Infinity
let left = 0
const onTick = (counter: { n: number }) => {
  if (++counter.n === want && --left === 0) {
    send({ done: { at: performance.timeOrigin + performance.now(), cpuUs: cpuNow() } })
  }
}
const counters: { n: number }[] = []

function open(): Idle {
  const counter = { n: 0 }
  counters.push(counter)
  const origin = `http://127.0.0.1:${task.port}`
  switch (task.impl) {
    case 'surewire-ws':
    case 'surewire-sse': {
      const client = new RealtimeClient({
        url: `${origin}/realtime`,
        incoming: passthrough,
        outgoing: passthrough,
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        transports: [task.impl === 'surewire-ws' ? 'websocket' : 'sse'],
        storage: null,
        lifecycle: null,
      })
      client.on('message', (m) => (m as BenchMsg).type === 'tick' && onTick(counter))
      client.on('error', noop)
      return { ready: client.connect(), close: () => client.close() }
    }
    case 'socketio-ws':
    case 'socketio-default': {
      const socket = io(origin, { forceNew: true, reconnection: false, ...(task.impl === 'socketio-ws' ? { transports: ['websocket'] } : {}) })
      socket.on('tick', () => onTick(counter))
      const ready = socketIoIdle(socket)
      return { ready, close: () => void socket.disconnect() }
    }
    case 'raw-ws': {
      const ws = new WebSocket(`ws://127.0.0.1:${task.port}/`)
      ws.on('message', (data) => (JSON.parse(data.toString()) as BenchMsg).type === 'tick' && onTick(counter))
      const ready = new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve())
        ws.once('error', reject)
      })
      return { ready, close: () => ws.close() }
    }
  }
}

const conns: Idle[] = []
for (let i = 0; i < task.clients; i += 100) {
  const batch = Array.from({ length: Math.min(100, task.clients - i) }, open)
  conns.push(...batch)
  await Promise.all(batch.map((c) => c.ready))
}
send({ ready: true })

process.on('message', (m: FleetCommand) => {
  if (m.cmd === 'expect') {
    for (const c of counters) c.n = 0
    want = m.n
    left = counters.length
    send({ armed: true })
  } else {
    for (const c of conns) c.close()
    // Let close frames / byes leave before the process goes.
    setTimeout(() => process.exit(0), 300)
  }
})
process.on('disconnect', () => process.exit(0)) // the runner went away
