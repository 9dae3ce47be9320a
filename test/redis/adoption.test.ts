/**
 * Adoption edges of the Redis session layer, against a real redis-server:
 * - catch-up past a trimmed fan-out stream: the session's saved fan-out position is older than
 *   what the stream still holds (`streamMaxEntries`, small here), so the messages in between are
 *   gone: the client is told (`reset: 'replay_window_exceeded'`), never a silent gap; and the
 *   control: the same with the stream holding everything resumes with no reset and no loss.
 */
import { describe, expect, it } from 'vitest'
import { matching, wsPeer, type Frame } from '../support/peer'
import { useRedis } from '../support/redis-server'
import { redisNode } from './nodes'

const fixture = useRedis()
let prefixes = 0
const prefix = () => `a${++prefixes}-${process.pid}:`
const ticks = (frames: Frame<'msg'>[]) => frames.map((f) => (f.d as { n: number }).n)

describe('adoption catch-up and the fan-out stream window', () => {
  for (const held of [false, true]) {
    it(held ? 'control: the stream still holds everything since the saved position: resumed, no reset, every message once' : 'the stream was trimmed past the saved position: the client gets reset replay_window_exceeded, then the messages the stream still holds and live ones', async () => {
      const p = prefix()
      // streamMaxEntries applies where the XADD runs (the publisher C); 20 entries (≈ a stream node: MAXLEN ~ trims whole nodes).
      const streamMaxEntries = held ? 100_000 : 20
      const [a, b, c] = await Promise.all([redisNode(fixture, p), redisNode(fixture, p), redisNode(fixture, p, { streamMaxEntries })])
      const first = wsPeer(a.url)
      const { sid } = await first.hello()
      first.send({ t: 'sub', seq: 1, topic: 'feed' })
      await first.wait('ack', (f) => f.seq === 1)
      for (let n = 1; n <= 10; n++) await c.realtime.publish('feed', { type: 'tick', n })
      await first.wait('msg', undefined, 10)
      const last = Math.max(...matching(first.frames, 'msg').map((f) => f.id))
      a.crash() // the home dies; nobody holds the session while the stream moves on
      await first.closed()
      const N = 600
      for (let n = 11; n <= N; n++) await c.realtime.publish('feed', { type: 'tick', n })
      const again = wsPeer(b.url, `sid=${sid}&last=${last}`)
      const hello = await again.hello()
      expect(b.conns.map((x) => x.adopted)).toEqual([true])
      if (held) {
        expect(hello).toMatchObject({ sid, resumed: true })
        expect(hello.reset).toBeUndefined()
        await again.wait('msg', (f) => (f.d as { n: number }).n === N)
        expect(ticks(matching(again.frames, 'msg'))).toEqual(Array.from({ length: N - 10 }, (_, i) => 11 + i))
      } else {
        expect(hello).toMatchObject({ sid, resumed: false, reset: 'replay_window_exceeded' })
        await again.wait('msg', (f) => (f.d as { n: number }).n === N)
        const got = ticks(matching(again.frames, 'msg'))
        expect(got[0], 'the oldest messages were trimmed').toBeGreaterThan(11)
        expect(got, 'after the gap: what the stream holds, in order, once').toEqual(Array.from({ length: N - got[0]! + 1 }, (_, i) => got[0]! + i))
        // The session goes on (live messages) and a later resume of it is not reset again.
        await c.realtime.publish('feed', { type: 'tick', n: N + 1 })
        await again.wait('msg', (f) => (f.d as { n: number }).n === N + 1)
        const upTo = Math.max(...matching(again.frames, 'msg').map((f) => f.id))
        again.ws.close()
        await again.closed()
        const third = wsPeer(c.url, `sid=${sid}&last=${upTo}`)
        expect(await third.hello()).toMatchObject({ sid, resumed: true })
        expect((await third.hello()).reset).toBeUndefined()
      }
      expect([...b.errors, ...c.errors]).toEqual([])
    })
  }
})
