/**
 * Redis drops a subscriber whose output buffer passes `client-output-buffer-limit pubsub` (set
 * low here: 64 kB hard): a flooded process channel. The process must notice, resubscribe, and
 * lose nothing: what it may have missed on its channel is recovered by closing the transports
 * that depended on it (their clients resume from their last id and resend what was not acked),
 * and the loss is reported on `error` (BrokerError broker_unavailable). Both sides:
 * - the GATEWAY's channel is flooded: its relayed WebSocket closes (1001) and resumes, no loss;
 * - the HOME's channel is flooded: the transports relayed from it close too (the frames and
 *   detaches sent to it in the gap are lost), the client resumes and resends, handled once.
 * The flood is one PUBLISH larger than the hard limit (an ignored message shape), which passes
 * the limit on cue.
 */
import { describe, expect, it } from 'vitest'
import { createClient } from 'redis'
import { matching, wsPeer, type Frame } from '../support/peer'
import { useRedis } from '../support/redis-server'
import { until } from '../support/servers'
import { layerOf, redisNode, untilSubscribed, type RedisNode } from './nodes'

const fixture = useRedis({ config: ['client-output-buffer-limit pubsub 64kb 32kb 1'] })
let prefixes = 0
const prefix = () => `ps${++prefixes}-${process.pid}:`
const count = (seq: number, n: number) => ({ t: 'msg', seq, d: { type: 'count', n } })
const ticks = (frames: Frame<'msg'>[]) => frames.map((f) => (f.d as { n: number }).n)


/** Flood `n`'s process channel past the hard limit; resolves once Redis dropped and `n` resubscribed. */
async function flood(n: RedisNode): Promise<void> {
  const admin = createClient({ url: fixture.redis.url })
  await admin.connect()
  try {
    const channel = layerOf(n).channel(layerOf(n).id)
    // The pub/sub connections Redis has now (CLIENT LIST TYPE pubsub ids): the flooded one must go.
    const pubsubIds = async () => new Set([...String(await admin.sendCommand(['CLIENT', 'LIST', 'TYPE', 'pubsub'])).matchAll(/\bid=(\d+)/g)].map((m) => m[1]!))
    const before = await pubsubIds()
    await admin.sendCommand(['PUBLISH', channel, JSON.stringify({ k: 'w', sk: 'flood', t: 'x'.repeat(256 * 1024) })])
    let dropped = false
    for (let i = 0; i < 500 && !dropped; i++) {
      const now = await pubsubIds()
      dropped = [...before].some((id) => !now.has(id))
      if (!dropped) await new Promise((r) => setTimeout(r, 10))
    }
    expect(dropped, 'Redis dropped a subscriber (output buffer limit)').toBe(true)
    await untilSubscribed(fixture, n) // the process subscribes again on its own (bounded: it throws after 10 s)
    const subscribed = Number(((await admin.sendCommand(['PUBSUB', 'NUMSUB', channel])) as unknown[])[1])
    expect(subscribed, 'the process subscribed again on its own').toBe(1)
  } finally {
    await admin.quit()
  }
}

describe('a process subscription dropped by Redis (client-output-buffer-limit pubsub)', () => {
  for (const side of ['gateway', 'home'] as const) {
    it(`the ${side}'s channel is flooded: it resubscribes, reports it, the relayed transport closes and resumes with nothing lost or handled twice`, async () => {
      const p = prefix()
      const [home, gateway] = await Promise.all([redisNode(fixture, p), redisNode(fixture, p)])
      const first = wsPeer(home.url)
      const { sid } = await first.hello()
      first.ws.close()
      await first.closed()
      const ws = wsPeer(gateway.url, `sid=${sid}&last=0`)
      expect(await ws.hello()).toMatchObject({ sid, resumed: true })
      for (let seq = 1; seq <= 5; seq++) ws.send(count(seq, seq))
      await ws.wait('msg', undefined, 5)

      await flood(side === 'home' ? home : gateway)
      const closed = await ws.closed()
      expect(closed.code).toBe(1001)
      const flooded = side === 'home' ? home : gateway
      await until(() => flooded.errors.some((e) => (e as { code?: string }).code === 'broker_unavailable'), 15_000, 'the lost subscription to be reported')
      for (const e of flooded.errors) expect((e as Error).name, String(e)).toBe('BrokerError')

      // The client resumes (through the gateway again) and sends again what was not acked.
      const last = Math.max(...matching(ws.frames, 'msg').map((f) => f.id))
      const acked = Math.max(0, ...matching(ws.frames, 'ack').map((f) => f.seq))
      const again = wsPeer(gateway.url, `sid=${sid}&last=${last}`)
      const hello = await again.hello()
      expect(hello).toMatchObject({ sid, resumed: true })
      expect(hello.reset).toBeUndefined()
      for (let seq = Math.min(acked, hello.seq!) + 1; seq <= 10; seq++) again.send(count(seq, seq))
      await again.wait('ack', (f) => f.seq === 10)
      await again.wait('msg', (f) => (f.d as { n: number }).n === 10)
      const all = [...matching(ws.frames, 'msg'), ...matching(again.frames, 'msg')]
      expect(ticks(all)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
      expect(new Set(all.map((f) => f.id)).size).toBe(all.length)
      // Handled once each, wherever the session is homed now (the home, or an adopter if the home was deaf when the client came back).
      expect([...home.handled, ...gateway.handled].map((k) => Number(k.split(':')[1])).sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
    })
  }
})
