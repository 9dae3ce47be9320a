/**
 * A process whose fan-out reader is away longer than the fan-out stream keeps (issue #9, "never a
 * silent loss"): the home is a child process stopped with SIGSTOP (as a blocked event loop or a
 * paused VM) while another process publishes past `streamMaxEntries` (20 here, on both: MAXLEN ~
 * trims whole stream nodes). Once it runs again its reader finds the stream trimmed past its
 * position: the loss is reported once (`broker_data_lost` on the server's `error` event), the
 * client of the session homed there is told (its transport closes, its resume gets
 * `reset: 'replay_window_exceeded'`), and what it did get before is gap-free. The control: the same
 * freeze with fewer messages than the stream keeps: every message once, in order, no reset, no error.
 */
import { describe, expect, it } from 'vitest'
import { matching, wsPeer, type Frame } from '../support/peer'
import { useRedis } from '../support/redis-server'
import { until } from '../support/servers'
import { redisNode } from '../redis/nodes'
import { ClusterNode } from './cluster'

const fixture = useRedis()
const MAX = 20
let prefixes = 0
const ticks = (frames: Frame<'msg'>[]) => frames.map((f) => (f.d as { n: number }).n)
const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

describe('a process whose fan-out reader falls behind the trimmed stream (SIGSTOP)', () => {
  for (const trimmed of [false, true]) {
    it(trimmed ? 'trimmed past its position: broker_data_lost once, the client is told (closed, then reset on resume), nothing skipped silently' : 'control: the stream still holds everything it missed: every message once, no reset, no error', async () => {
      const prefix = `fr${process.pid}-${++prefixes}:`
      const home = new ClusterNode('home', { SUREWIRE_REDIS_URL: fixture.redis.url, SUREWIRE_PREFIX: prefix, SUREWIRE_STREAM_MAX_ENTRIES: String(MAX), SUREWIRE_HEARTBEAT_MS: '15000' }, () => {})
      await home.start()
      fixture.cleanup(() => home.stop())
      fixture.cleanup(() => home.child?.kill('SIGCONT')) // runs first: a stopped process cannot take SIGTERM
      const publisher = await redisNode(fixture, prefix, { streamMaxEntries: MAX })
      const url = `http://127.0.0.1:${home.port}/realtime`
      const peer = wsPeer(url)
      const { sid } = await peer.hello()
      peer.send({ t: 'sub', seq: 1, topic: 'feed' })
      await peer.wait('ack', (f) => f.seq === 1)
      for (let n = 1; n <= 5; n++) await publisher.realtime.publish('feed', { type: 'tick', n })
      await peer.wait('msg', (f) => (f.d as { n: number }).n === 5)

      home.child!.kill('SIGSTOP')
      const frozen = new Promise((r) => setTimeout(r, 2_500)) // longer than blockMs + the stall margin: the reader's next batch is checked either way
      const last = trimmed ? 600 : 5 + MAX / 2
      for (let n = 6; n <= last; n++) await publisher.realtime.publish('feed', { type: 'tick', n })
      await frozen
      home.child!.kill('SIGCONT')

      if (!trimmed) {
        await publisher.realtime.publish('feed', { type: 'tick', n: last + 1 })
        await peer.wait('msg', (f) => (f.d as { n: number }).n === last + 1)
        expect(ticks(matching(peer.frames, 'msg'))).toEqual(upTo(last + 1))
        expect(home.errors).toEqual([])
        return
      }
      await until(() => home.errors.length > 0)
      // Told at once: the transport closes, 1001 going away. (The home's heartbeat is 15 s here: with
      // the fixture's 1 s, the raw peer, which never pings, is closed 4408 after 3 s idle, freeze included.)
      expect((await peer.closed()).code).toBe(1001)
      const got = ticks(matching(peer.frames, 'msg'))
      expect(got, 'what arrived before the notice is gap-free').toEqual(upTo(got.length))
      expect(got.length).toBeLessThan(last)
      const lastId = Math.max(...matching(peer.frames, 'msg').map((f) => f.id))
      const again = wsPeer(url, `sid=${sid}&last=${lastId}`)
      expect(await again.hello()).toMatchObject({ sid, resumed: false, reset: 'replay_window_exceeded' })
      // Live delivery goes on, and a later resume is not reset again; the loss was reported once.
      await publisher.realtime.publish('feed', { type: 'tick', n: last + 1 })
      await again.wait('msg', (f) => (f.d as { n: number }).n === last + 1)
      const after = ticks(matching(again.frames, 'msg'))
      expect(after, 'after the reset: in order, once').toEqual(Array.from({ length: after.length }, (_, i) => after[0]! + i))
      const to = Math.max(...matching(again.frames, 'msg').map((f) => f.id))
      again.ws.close()
      await again.closed()
      const third = wsPeer(url, `sid=${sid}&last=${to}`)
      const hello = await third.hello()
      expect(hello).toMatchObject({ sid, resumed: true })
      expect(hello.reset).toBeUndefined()
      expect(home.errors.map((e) => e.code)).toEqual(['broker_data_lost'])
      expect(home.errors[0]!.message).toMatch(/fell behind the stream .*streamMaxEntries=20/)
      expect(publisher.errors).toEqual([])
    })
  }
})
