/**
 * The in-process instances of the Redis suite: a RealtimeServer on its own http server whose
 * broker is createRedisBroker on the file's redis-server (test/support/redis-server.ts), with
 * what the tests check recorded (errors, connections, handled `count` messages) and a crash hook
 * (every socket and Redis connection cut at once; nothing flushed or released).
 */
import type { Socket } from 'node:net'
import { createClient } from 'redis'
import { createRedisBroker, type RedisBrokerOptions } from '../../src/redis'
import type { Broker, Connection, ServerOptions } from '../../src/server'
import { wsPeer } from '../support/peer'
import type { RedisFixture } from '../support/redis-server'
import type { ClientMessage, ServerMessage } from '../support/schemas'
import { startServer, type TestServer } from '../support/servers'

export interface RedisNode extends TestServer {
  broker: Broker
  errors: unknown[]
  /** Every `connection` on this instance (adopted ones included). */
  conns: Connection[]
  /** Handler runs on this instance: `${conn.id}:${inboundSeq}` of every `count` message. */
  handled: string[]
  /** Crash: cut every socket and Redis connection at once; nothing is flushed or released. */
  crash(): void
}

/** A RealtimeServer on its own http server whose broker is Redis (prefix `p`); `count` messages are recorded and answered with `tick`. */
export async function redisNode(fixture: RedisFixture, p: string, extra: Partial<RedisBrokerOptions> = {}, server: Partial<ServerOptions<typeof ClientMessage, typeof ServerMessage>> = {}): Promise<RedisNode> {
  const broker: Broker = await createRedisBroker({ url: fixture.redis.url, keyPrefix: p, blockMs: 1_000, livenessIntervalMs: 200, ...extra })
  const s = await startServer({ broker, sessionTtlMs: 30_000, ...server })
  const errors: unknown[] = []
  const conns: Connection[] = []
  const handled: string[] = []
  const sockets = new Set<Socket>()
  s.http.on('connection', (sock: Socket) => sockets.add(sock))
  s.realtime.on('error', (e) => errors.push(e))
  s.realtime.on('connection', (conn) => {
    conns.push(conn as Connection)
    conn.on('message', (m) => {
      if (m.type === 'count') {
        handled.push(`${conn.id}:${conn.inboundSeq}`)
        void conn.send({ type: 'tick', n: m.n })
      }
    })
  })
  let crashed = false
  fixture.cleanup(() => (crashed ? undefined : s.close()))
  return {
    ...s,
    broker,
    errors,
    conns,
    handled,
    crash() {
      crashed = true
      ;(broker as unknown as Record<symbol, () => void>)[Symbol.for('surewire.test.crash')]!()
      for (const sock of sockets) sock.destroy()
      s.http.close()
    },
  }
}


/** A raw WebSocket peer of `home`, subscribed to `feed`, that has received ticks 1..5 published by `publisher`. */
export async function feedPeer(home: RedisNode, publisher: RedisNode): Promise<{ peer: ReturnType<typeof wsPeer>; sid: string }> {
  const peer = wsPeer(home.url)
  const { sid } = await peer.hello()
  peer.send({ t: 'sub', seq: 1, topic: 'feed' })
  await peer.wait('ack', (f) => f.seq === 1)
  for (let n = 1; n <= 5; n++) await publisher.realtime.publish('feed', { type: 'tick', n })
  await peer.wait('msg', (f) => (f.d as { n: number }).n === 5)
  return { peer, sid }
}

/** The Redis session layer of a node: its process id and the name of a process's pub/sub channel. */
export interface Layer {
  id: string
  channel(id: string): string
}
export const layerOf = (n: RedisNode) => (n.broker as unknown as { sessions: Layer }).sessions

/**
 * Resolves once every node's process channel has a subscriber again (after a Redis restart each
 * node-redis connection reconnects on its own schedule: a node whose commands work may not be
 * subscribed yet, and a request forwarded to it meanwhile finds nobody and adopts its session).
 */
export async function untilSubscribed(fixture: RedisFixture, ...nodes: RedisNode[]): Promise<void> {
  const admin = createClient({ url: fixture.redis.url })
  await admin.connect()
  try {
    const channels = nodes.map((n) => layerOf(n).channel(layerOf(n).id))
    for (let i = 0; ; i++) {
      const res = (await admin.sendCommand(['PUBSUB', 'NUMSUB', ...channels])) as unknown[]
      if (channels.every((_, k) => Number(res[2 * k + 1]) > 0)) return
      if (i >= 1_000) throw new Error(`not subscribed again after 10 s: ${channels.filter((_, k) => Number(res[2 * k + 1]) === 0).join(', ')}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  } finally {
    await admin.quit()
  }
}

