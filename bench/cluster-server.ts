/**
 * One server process of the cluster benchmark (bench/cluster.ts forks it; bundled to .mjs first).
 * Env: STACK = surewire | socketio; BROKER = memory | redis; REDIS_URL; PREFIX; PORT (0: free).
 *
 * surewire: the reference server (passthrough schema) with createRedisBroker or the in-memory
 * broker; every client message is just acked. socket.io: a socket.io server with
 * @socket.io/redis-adapter on node-redis (pub + sub clients), websocket transport.
 *
 * IPC commands: { cmd: 'fanout', count, topic? } sends `count` messages to every client (or to
 * topic subscribers) as fast as the stack takes them; { cmd: 'paced', count, gapMs, topic? }
 * one every gapMs, each stamped with `t` (ms, performance.timeOrigin + now(): comparable across
 * processes of one machine) for the latency row. Replies { ev: 'done', id }.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createClient } from 'redis'
import { Server as IoServer } from 'socket.io'
import { createAdapter } from '@socket.io/redis-adapter'
import { createRealtimeServer } from '../src/server/index'
import { createRedisBroker } from '../src/redis/index'
import { passthrough, type BenchMsg } from './suite/shared'

type Cmd = { id: number; cmd: 'fanout' | 'paced'; count: number; gapMs?: number; topic?: string }
const stamp = () => performance.timeOrigin + performance.now()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const env = process.env
const http = createServer((_req, res) => res.writeHead(404).end())
let send: (m: BenchMsg, topic?: string) => Promise<void> | void

if (env.STACK === 'socketio') {
  const pub = createClient({ url: env.REDIS_URL })
  const sub = pub.duplicate()
  await Promise.all([pub.connect(), sub.connect()])
  const io = new IoServer(http, { transports: ['websocket'], adapter: createAdapter(pub, sub, { key: `${env.PREFIX}io` }) })
  io.on('connection', (socket) => socket.on('sub', (topic: string, ack?: () => void) => void Promise.resolve(socket.join(topic)).then(() => ack?.())))
  send = (m, topic) => void (topic === undefined ? io.emit('m', m) : io.to(topic).emit('m', m))
} else {
  const broker = env.BROKER === 'redis' ? await createRedisBroker({ url: env.REDIS_URL!, keyPrefix: env.PREFIX, blockMs: 1_000 }) : undefined
  const realtime = createRealtimeServer({ incoming: passthrough, outgoing: passthrough, broker, heartbeatIntervalMs: 60_000 })
  realtime.on('error', () => {})
  realtime.attach(http)
  send = (m, topic) => (topic === undefined ? realtime.broadcast(m) : realtime.publish(topic, m))
}

await new Promise<void>((r) => http.listen(Number(env.PORT ?? 0), '127.0.0.1', r))

process.on('message', (c: Cmd) => {
  void (async () => {
    const pending: (Promise<void> | void)[] = []
    for (let n = 1; n <= c.count; n++) {
      if (c.cmd === 'paced') {
        await send({ type: 'tick', n, t: stamp() } as unknown as BenchMsg, c.topic)
        await sleep(c.gapMs ?? 2)
      } else pending.push(send({ type: 'tick', n } as BenchMsg, c.topic))
    }
    await Promise.all(pending)
    process.send?.({ ev: 'done', id: c.id })
  })().catch((err: unknown) => process.send?.({ ev: 'done', id: c.id, error: String(err) }))
})

// SIGTERM ends the process at once, as its default does, but through exit() so `node --cpu-prof` writes its profile.
process.once('SIGTERM', () => process.exit(0))

process.send?.({ ev: 'listening', port: (http.address() as AddressInfo).port })
