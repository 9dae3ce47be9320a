/**
 * A process that cannot reach Redis while the others go on publishing past `streamMaxEntries`
 * (20 here: MAXLEN ~ trims whole stream nodes): its Redis connections run through a TCP relay
 * that this test cuts (every connection closed, new ones refused) and restores. Once back, its
 * fan-out reader resumes from its last position:
 * - the stream was trimmed past it: the loss is reported once (`broker_data_lost`), the client of
 *   the session homed there is told (its transport closes; its resume gets
 *   `reset: 'replay_window_exceeded'`), and what it got before is gap-free;
 * - control, the stream still holds everything it missed: every message once, in order, no reset,
 *   the transport stays open, no `broker_data_lost`.
 */
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { createClient } from 'redis'
import { describe, expect, it } from 'vitest'
import type { BrokerError } from '../../src/redis'
import { matching, wsPeer, type Frame } from '../support/peer'
import { useRedis } from '../support/redis-server'
import { until } from '../support/servers'
import { feedPeer, redisNode } from './nodes'

const fixture = useRedis()
const MAX = 20
let prefixes = 0
const ticks = (frames: Frame<'msg'>[]) => frames.map((f) => (f.d as { n: number }).n)
const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1)
const codes = (errors: unknown[]) => errors.map((e) => (e as BrokerError).code)

/** A TCP relay to the file's redis-server that can be cut (connections closed, new ones refused) and restored. */
async function relay(port: number) {
  let down = false
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    if (down) return void client.destroy()
    const upstream = net.connect(port, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => (sockets.delete(s), client.destroy(), upstream.destroy()))
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  fixture.cleanup(() => new Promise<void>((r) => (server.close(() => r()), sockets.forEach((s) => s.destroy()))))
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut() {
      down = true
      for (const s of sockets) s.destroy()
    },
    restore() {
      down = false
    },
  }
}

const CASES = {
  control: 'control: the stream still holds what it missed: every message once, no reset, no broker_data_lost',
  trimmed: 'trimmed: broker_data_lost once, the client is told (closed, then reset on resume), nothing skipped silently',
  crashed: 'trimmed, and the home crashes before the client resumed: the adopter resets it too (the skipped id is in Redis)',
}

describe('a process cut off from Redis while the fan-out stream is trimmed past its position', () => {
  for (const [name, title] of Object.entries(CASES)) {
    const trimmed = name !== 'control'
    it(title, async () => {
      const p = `rg${++prefixes}-${process.pid}:`
      const link = await relay(fixture.redis.port)
      const home = await redisNode(fixture, p, { url: link.url, streamMaxEntries: MAX, commandTimeoutMs: 1_000 })
      const publisher = await redisNode(fixture, p, { streamMaxEntries: MAX })
      const { peer, sid } = await feedPeer(home, publisher)

      link.cut()
      await until(() => codes(home.errors).includes('broker_unavailable'), 30_000, 'the home to report the outage')
      const last = trimmed ? 600 : 5 + MAX / 2
      for (let n = 6; n <= last; n++) await publisher.realtime.publish('feed', { type: 'tick', n })
      link.restore()

      if (!trimmed) {
        await publisher.realtime.publish('feed', { type: 'tick', n: last + 1 })
        await peer.wait('msg', (f) => (f.d as { n: number }).n === last + 1)
        expect(ticks(matching(peer.frames, 'msg'))).toEqual(upTo(last + 1))
        expect(codes(home.errors)).not.toContain('broker_data_lost')
        expect(peer.ws.readyState).toBe(peer.ws.OPEN)
        return
      }
      await until(() => codes(home.errors).includes('broker_data_lost'), 30_000, 'the home to report the loss')
      expect((await peer.closed()).code).toBe(1001)
      const got = ticks(matching(peer.frames, 'msg'))
      expect(got, 'what arrived before the notice is gap-free').toEqual(upTo(got.length))
      expect(got.length).toBeLessThan(last)
      const lastId = Math.max(...matching(peer.frames, 'msg').map((f) => f.id))
      let resumeAt = home
      if (name === 'crashed') {
        // Once the session's log in Redis restarts after the skipped id, the home dies.
        const redis = createClient({ url: fixture.redis.url })
        await redis.connect()
        fixture.cleanup(() => redis.quit())
        for (let start = Date.now(); ; await new Promise((r) => setTimeout(r, 20))) {
          const head = await redis.xRange(`${p}s:${sid}:log`, '-', '+', { COUNT: 1 })
          if (head?.[0] && parseInt(head[0].id, 10) > lastId) break
          if (Date.now() - start > 30_000) throw new Error("the session's log in Redis did not restart after the skipped id within 30 s")
        }
        home.crash()
        resumeAt = publisher
      }
      const again = wsPeer(resumeAt.url, `sid=${sid}&last=${lastId}`)
      expect(await again.hello()).toMatchObject({ sid, resumed: false, reset: 'replay_window_exceeded' })
      await publisher.realtime.publish('feed', { type: 'tick', n: last + 1 })
      await again.wait('msg', (f) => (f.d as { n: number }).n === last + 1)
      const after = ticks(matching(again.frames, 'msg'))
      expect(after, 'after the reset: in order, once').toEqual(Array.from({ length: after.length }, (_, i) => after[0]! + i))
      expect(codes(home.errors).filter((c) => c === 'broker_data_lost')).toHaveLength(1)
      expect((home.errors.find((e) => (e as BrokerError).code === 'broker_data_lost') as Error).message).toMatch(/fell behind the stream .*streamMaxEntries=20/)
      expect(publisher.errors).toEqual([])
    })
  }
})
