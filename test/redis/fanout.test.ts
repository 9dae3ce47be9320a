/**
 * surewire/redis against a real redis-server (Debian's 7.0, started by the test on its own port,
 * config and data dir): broadcast() / publish() fan out across server instances that share
 * nothing but Redis, exactly once and in one order; Redis stopped and restarted under traffic
 * loses nothing that was published and recovers on its own; an unreachable Redis at start is a
 * clear error.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createRedisBroker } from '../../src/redis'
import { BrokerError } from '../../src/server'
import { closeClients, makeClient, startServer, until, type TestServer } from '../support/servers'
import { freePort, useRedis } from '../support/redis-server'

const fixture = useRedis()
afterEach(() => closeClients()) // before the fixture's cleanups (vitest runs afterEach hooks newest first)

let prefixes = 0
/** A reference server whose broker is Redis; every instance of one test shares `prefix`. */
async function node(prefix: string): Promise<TestServer & { errors: unknown[] }> {
  const broker = await createRedisBroker({ url: fixture.redis.url, keyPrefix: prefix, blockMs: 1_000 })
  const s = await startServer({ broker })
  const errors: unknown[] = []
  s.realtime.on('error', (e) => errors.push(e))
  fixture.cleanup(() => s.close())
  return { ...s, errors }
}

/** A client on `s` that records the `n` of every tick, subscribed to `topic` when given. */
async function listener(s: TestServer, transport: 'websocket' | 'sse', topic?: string) {
  const c = makeClient(s.url, { transports: [transport] })
  const got: number[] = []
  const resets: string[] = []
  c.onMessage('tick', (m) => got.push(m.n))
  c.on('reset', (e) => resets.push(e.reason))
  await c.connect()
  if (topic) await c.subscribe(topic)
  return { c, got, resets }
}

describe('fan-out across server instances sharing one Redis', () => {
  it('broadcast from one instance reaches every client on every instance exactly once', async () => {
    const prefix = `t${++prefixes}:`
    const [a, b, c] = await Promise.all([node(prefix), node(prefix), node(prefix)])
    const clients = await Promise.all([listener(a, 'websocket'), listener(b, 'sse'), listener(c, 'websocket'), listener(c, 'sse')])
    const N = 500
    for (let n = 1; n <= N; n++) await a.realtime.broadcast({ type: 'tick', n })
    await until(() => clients.every((x) => x.got.length >= N), 30_000, 'every client to get every broadcast').catch((e: Error) => {
      throw new Error(`${e.message}: got ${clients.map((x) => x.got.length).join(', ')}; errors ${[...a.errors, ...b.errors, ...c.errors].map(String).join('; ')}`)
    })
    for (const x of clients) expect(x.got).toEqual(Array.from({ length: N }, (_, i) => i + 1))
    expect([...a.errors, ...b.errors, ...c.errors]).toEqual([])
  })

  it('await broadcast() / publish(), then conn.send() on the same process: the client gets them in that order, as with the in-memory broker', async () => {
    const prefix = `t${++prefixes}:`
    const a = await node(prefix)
    const x = await listener(a, 'websocket', 'room')
    const conn = a.realtime.connections[0]!
    const N = 200
    // A publish resolved once Redis held it, before this process's reader had delivered it: the send made next overtook it (9 in 100 here).
    for (let n = 1; n <= N; n += 2) {
      await (n % 4 === 1 ? a.realtime.broadcast({ type: 'tick', n }) : a.realtime.publish('room', { type: 'tick', n }))
      await conn.send({ type: 'tick', n: n + 1 })
    }
    await until(() => x.got.length >= N, 30_000, 'every message').catch((e: Error) => {
      throw new Error(`${e.message}: got ${x.got.length}; errors ${a.errors.map(String).join('; ')}`)
    })
    expect(x.got).toEqual(Array.from({ length: N }, (_, i) => i + 1))
    expect(a.errors).toEqual([])
  })

  it('publish(topic) from two instances at once: every subscriber everywhere gets each message once, all in the same order', async () => {
    const prefix = `t${++prefixes}:`
    const [a, b] = await Promise.all([node(prefix), node(prefix)])
    const subs = await Promise.all([listener(a, 'websocket', 'room'), listener(b, 'sse', 'room'), listener(b, 'websocket', 'room')])
    const other = await listener(a, 'websocket', 'elsewhere')
    const N = 400
    // A publishes odd numbers, B even ones, concurrently: one total order, whatever it is.
    await Promise.all([
      (async () => {
        for (let n = 1; n <= N; n += 2) await a.realtime.publish('room', { type: 'tick', n })
      })(),
      (async () => {
        for (let n = 2; n <= N; n += 2) await b.realtime.publish('room', { type: 'tick', n })
      })(),
    ])
    await until(() => subs.every((x) => x.got.length >= N), 30_000, 'every subscriber to get every message')
    const order = subs[0]!.got
    expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i + 1)) // each once
    for (const x of subs) expect(x.got).toEqual(order) // the same order everywhere
    // Each publisher's own messages stay in its publish order.
    const odd = order.filter((n) => n % 2 === 1)
    expect(odd).toEqual([...odd].sort((x, y) => x - y))
    expect(other.got).toEqual([])
  })
})

describe('Redis faults', () => {
  it('Redis stopped and restarted under traffic: no crash, every publish delivered once in order, reported, recovers on its own', async () => {
    const prefix = `t${++prefixes}:`
    const [a, b] = await Promise.all([node(prefix), node(prefix)])
    const subs = await Promise.all([listener(a, 'websocket', 'feed'), listener(b, 'sse', 'feed')])
    const N = 600
    const outcomes: ('ok' | 'rejected')[] = []
    const publishing = (async () => {
      for (let n = 1; n <= N; n++) {
        outcomes[n - 1] = await b.realtime.publish('feed', { type: 'tick', n }).then(
          () => 'ok' as const,
          () => 'rejected' as const,
        )
      }
    })()
    await until(() => subs.every((x) => x.got.length >= 100), 30_000, 'traffic to flow')
    await fixture.redis.stop()
    await until(() => a.errors.some((e) => e instanceof BrokerError && e.code === 'broker_unavailable'), 30_000, 'the outage to be reported')
    await fixture.redis.start()
    await publishing
    const resolved = outcomes.flatMap((o, i) => (o === 'ok' ? [i + 1] : []))
    expect(resolved.length).toBeGreaterThan(0)
    await until(() => subs.every((x) => resolved.every((n) => x.got.includes(n))), 30_000, 'every resolved publish to arrive')
    for (const x of subs) {
      expect(new Set(x.got).size).toBe(x.got.length) // exactly once
      expect(x.got).toEqual([...x.got].sort((p, q) => p - q)) // in order
      expect(x.resets).toEqual([])
    }
    // A rejected publish may still have reached Redis (its reply was lost), never more than once.
    const notAnnounced = subs[0]!.got.filter((n) => outcomes[n - 1] !== 'ok')
    expect(notAnnounced.length).toBeLessThanOrEqual(outcomes.filter((o) => o === 'rejected').length)
    // And the broker works again without help.
    await a.realtime.publish('feed', { type: 'tick', n: N + 1 })
    await until(() => subs.every((x) => x.got.includes(N + 1)), 30_000, 'a publish after recovery')
    expect(a.errors.every((e) => e instanceof BrokerError)).toBe(true)
    expect(a.errors.some((e) => (e as BrokerError).code === 'broker_data_lost')).toBe(false) // AOF kept the stream
  })

  it('Redis unreachable at start: createRedisBroker rejects with broker_unreachable', async () => {
    const port = await freePort()
    const err = await createRedisBroker({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 1_000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BrokerError)
    expect((err as BrokerError).code).toBe('broker_unreachable')
    expect((err as BrokerError).message).toContain(`127.0.0.1:${port}`)
  })
})
