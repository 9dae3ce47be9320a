/**
 * Redis faults as a client sees them (issue #9 item 6), against a real redis-server started by
 * the test (./redis-server.ts) and real RealtimeClients:
 *
 * - A status reason on the clients: a client that connected with `notices=1` (every
 *   RealtimeClient does) stays `open` and gets `status` events `server_degraded` (detail
 *   `broker_unavailable`) and `server_recovered`, over WebSocket and over SSE; a client that
 *   connects (resumes on the home) during the outage gets `opened`, then `server_degraded`; a
 *   client without `notices=1` still gets the `error` frame it always got.
 * - The silent-drop edge: a session whose home already holds `maxHeldMessages` messages Redis has
 *   not taken is handed back to Redis instead of dropping the next fanned-out message. Redis
 *   refusing one process's writes is produced on cue with an ACL: the home connects as its own
 *   Redis user, whose scripts (every session write) are then denied (`NOPERM`) while its reads
 *   (the fan-out stream) and the other process's writes (the publisher) go on.
 */
import { describe, expect, it } from 'vitest'
import { createClient } from 'redis'
import { createRedisBroker, type RedisBrokerOptions } from '../../src/redis'
import type { BrokerError } from '../../src/server'
import type { StatusEvent } from '../../src'
import { matching, wsPeer } from '../support/peer'
import { useRedis } from '../support/redis-server'
import { makeClient, until } from '../support/servers'
import { redisNode } from './nodes'

const fx = useRedis()

let prefixes = 0
const prefix = () => `o${++prefixes}-${process.pid}:`
const node = (p: string, extra: Partial<RedisBrokerOptions> = {}) => redisNode(fx, p, extra)

async function admin(...commands: string[][]): Promise<void> {
  const c = createClient({ url: fx.redis.url })
  await c.connect()
  try {
    for (const cmd of commands) await c.sendCommand(cmd)
  } finally {
    await c.quit()
  }
}

/** A client that records its status events, ticks, resets and errors. */
function tracked(url: string, transport: 'websocket' | 'sse') {
  const c = makeClient(url, { transports: [transport], backoff: () => 100 })
  fx.cleanup(() => c.close()) // before the servers (cleanups run newest first)
  const t = { c, statuses: [] as StatusEvent[], got: [] as number[], resets: [] as string[], errors: [] as string[] }
  c.on('status', (e) => t.statuses.push(e))
  c.onMessage('tick', (m) => t.got.push(m.n))
  c.on('reset', (e) => t.resets.push(e.reason))
  c.on('error', (e) => t.errors.push(`${e.name}: ${e.message}`))
  return t
}
const reasons = (t: { statuses: StatusEvent[] }) => t.statuses.map((s) => s.reason)

describe('a status reason on the clients during a Redis outage', () => {
  for (const transport of ['websocket', 'sse'] as const) {
    it(`${transport}: stays open; status server_degraded (detail broker_unavailable), then server_recovered; nothing lost, no error event, no reset`, async () => {
      const a = await node(prefix())
      const t = tracked(a.url, transport)
      await t.c.connect()
      await t.c.send({ type: 'echo', text: 'before' })
      const opens = t.statuses.length
      const stopAt = performance.now()
      await fx.redis.stop()
      await until(() => reasons(t).includes('server_degraded'), 30_000, 'server_degraded')
      const degradedMs = performance.now() - stopAt
      const degraded = t.statuses.find((s) => s.reason === 'server_degraded')!
      expect(degraded).toMatchObject({ status: 'open', previous: 'open', transport, detail: 'broker_unavailable' })
      expect(t.c.getSnapshot()).toMatchObject({ status: 'open', reason: 'server_degraded', detail: 'broker_unavailable' })
      const during = t.c.send({ type: 'echo', text: 'during' }) // not acknowledged while Redis is down
      const startAt = performance.now()
      await fx.redis.start()
      await until(() => reasons(t).includes('server_recovered'), 30_000, 'server_recovered')
      if (process.env.SUREWIRE_FIGURES) console.log(`[figures] ${transport}: Redis stop → server_degraded ${degradedMs.toFixed(0)} ms, start → server_recovered ${(performance.now() - startAt).toFixed(0)} ms`)
      expect(t.c.getSnapshot()).toMatchObject({ status: 'open', reason: 'server_recovered' })
      expect(t.c.getSnapshot().detail).toBeUndefined()
      await during
      // The outage was shorter than the client's liveness timeouts: the connection stayed open throughout.
      expect(reasons(t).slice(opens)).toEqual(['server_degraded', 'server_recovered'])
      expect(t.errors).toEqual([])
      expect(t.c.stats.resets).toBe(0)
    })
  }

  it('a client that resumes on the home during the outage gets hello, then the notice; one without notices=1 gets the older error frame; both are told when it is back', async () => {
    const a = await node(prefix())
    const first = wsPeer(a.url, 'notices=1')
    const { sid } = await first.hello()
    await fx.redis.stop()
    await first.wait('notice', (f) => f.reason === 'server_degraded')
    expect(matching(first.frames, 'error')).toEqual([]) // a client that reads notices gets no error frame for it
    // A client without notices=1 (an older one) resumes: the error frame it always got, after hello.
    const old = wsPeer(a.url, `sid=${sid}&last=0`)
    expect((await old.hello()).resumed).toBe(true)
    await old.wait('error', (f) => f.code === 'server_error' && f.message.startsWith('broker_unavailable: '))
    expect(matching(old.frames, 'notice')).toEqual([])
    // And a current one resumes (it replaces the older one as the session's transport): hello, then the notice.
    const again = wsPeer(a.url, `sid=${sid}&last=0&notices=1`)
    expect((await again.hello()).resumed).toBe(true)
    const notice = await again.wait('notice')
    expect(notice).toMatchObject({ t: 'notice', reason: 'server_degraded', code: 'broker_unavailable' })
    expect(again.frames.map((f) => f.t)).toEqual(['hello', 'notice'])
    // Its liveness does not depend on Redis: a ping is answered at once, also behind a batch whose commit waits for Redis.
    again.send({ t: 'msg', seq: 1, d: { type: 'echo', text: 'held' } })
    again.send({ t: 'ping', n: 7 })
    expect(await again.wait('pong')).toMatchObject({ n: 7 })
    expect(matching(again.frames, 'ack')).toEqual([])
    await fx.redis.start()
    await again.wait('notice', (f) => f.reason === 'server_recovered')
    await again.wait('ack', (f) => f.seq === 1)
  })

  for (const transport of ['websocket', 'sse'] as const) {
    it(`${transport}: a new RealtimeClient that connects while Redis is down is refused, saying broker_unavailable, and connects on its own once Redis is back`, async () => {
      const a = await node(prefix(), { commandTimeoutMs: 500 })
      await fx.redis.stop()
      let down = true
      fx.cleanup(() => down && fx.redis.start())
      const t = tracked(a.url, transport)
      const connected = t.c.connect()
      await until(() => t.statuses.some((s) => s.status === 'reconnecting'), 30_000, 'a refused attempt')
      const refused = t.statuses.find((s) => s.status === 'reconnecting')!
      // WebSocket: the error frame before the close is the status detail; SSE: the error event before the stream's end is an `error` event.
      if (transport === 'websocket') expect(refused.detail).toMatch(/^close 1011 server_error: broker_unavailable: /)
      else expect(t.errors.some((e) => e.includes('broker_unavailable'))).toBe(true)
      await fx.redis.start()
      down = false
      await connected
      expect(t.c.status).toBe('open')
      await t.c.send({ type: 'echo', text: 'after' })
    })
  }
})

describe('through a gateway', () => {
  it("a client attached on another process than its session's home gets the notices the home sends (Redis refuses the home's writes; pub/sub works)", async () => {
    const p = prefix()
    const user = `gw${prefixes}`
    await admin(['ACL', 'SETUSER', user, 'on', '>pw', '~*', '&*', '+@all'])
    fx.cleanup(() => admin(['ACL', 'DELUSER', user]))
    const home = await node(p, { url: fx.redis.url.replace('redis://', `redis://${user}:pw@`) })
    const gateway = await node(p)
    const first = wsPeer(home.url, 'notices=1')
    const { sid } = await first.hello()
    const relayed = wsPeer(gateway.url, `sid=${sid}&last=0&notices=1`) // relayed from the home
    expect((await relayed.hello()).resumed).toBe(true)
    await admin(['ACL', 'SETUSER', user, '-@scripting'])
    await gateway.realtime.broadcast({ type: 'tick', n: 1 }) // the home's write of it is refused
    await relayed.wait('notice', (f) => f.reason === 'server_degraded')
    await admin(['ACL', 'SETUSER', user, '+@scripting'])
    await relayed.wait('notice', (f) => f.reason === 'server_recovered')
    const tick = await relayed.wait('msg')
    expect(tick).toMatchObject({ id: 1, d: { type: 'tick', n: 1 } })
    expect(relayed.frames.map((f) => f.t)).toEqual(['hello', 'notice', 'notice', 'msg'])
    expect(home.conns).toHaveLength(1)
  })
})

describe('the silent-drop edge: a session past maxHeldMessages', () => {
  it('maxHeldMessages must be a positive integer (ConfigError before connecting)', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      await expect(createRedisBroker({ url: fx.redis.url, maxHeldMessages: bad })).rejects.toMatchObject({ name: 'ConfigError', code: 'bad_config' })
    }
  })

  it('is handed back to Redis instead of dropping fan-out: every broadcast arrives once, in order, no reset; the held conn.send() rejects broker_unavailable', async () => {
    const p = prefix()
    const user = `home${prefixes}`
    await admin(['ACL', 'SETUSER', user, 'on', '>pw', '~*', '&*', '+@all'])
    fx.cleanup(() => admin(['ACL', 'DELUSER', user]))
    const home = await node(p, { url: fx.redis.url.replace('redis://', `redis://${user}:pw@`), maxHeldMessages: 5 })
    const publisher = await node(p)
    const t = tracked(home.url, 'websocket')
    await t.c.connect()
    await until(() => home.conns.length === 1, 10_000, 'the connection')
    for (let n = 1; n <= 3; n++) await publisher.realtime.broadcast({ type: 'tick', n })
    await until(() => t.got.length === 3, 10_000, 'ticks 1..3')
    // Redis now refuses every session write of the home (its scripts), not its reads.
    await admin(['ACL', 'SETUSER', user, '-@scripting'])
    const direct = home.conns[0]!.send({ type: 'chat', from: 'server', text: 'held' })
    const N = 20
    for (let n = 4; n <= N; n++) await publisher.realtime.broadcast({ type: 'tick', n })
    // Past 5 held messages the home gives the session up: the direct send rejects, typed; the client's transport closes.
    await expect(direct).rejects.toMatchObject({ name: 'BrokerError', code: 'broker_unavailable' })
    await until(() => t.statuses.some((s) => s.status === 'reconnecting'), 30_000, 'the session handed back (transport closed)')
    expect(reasons(t)).toContain('server_degraded')
    expect(t.got).toEqual([1, 2, 3]) // nothing held went out unwritten
    await admin(['ACL', 'SETUSER', user, '+@scripting'])
    await until(() => t.got.length >= N, 30_000, 'every tick after Redis takes writes again')
    expect(t.got).toEqual(Array.from({ length: N }, (_, i) => i + 1))
    expect(t.resets).toEqual([])
    expect(t.c.stats).toMatchObject({ resets: 0, duplicates: 0 })
    expect(t.c.stats.resumes).toBeGreaterThan(0)
    // Re-adopted (conn.adopted), and it keeps working.
    await until(() => home.conns.length === 2, 10_000, 'the adoption')
    expect(home.conns[1]!.adopted).toBe(true)
    await publisher.realtime.broadcast({ type: 'tick', n: N + 1 })
    await until(() => t.got.length === N + 1, 10_000, 'a tick after the adoption')
    for (const e of [...home.errors, ...publisher.errors]) expect((e as BrokerError).name, String(e)).toBe('BrokerError')
  })
})
