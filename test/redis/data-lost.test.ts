/**
 * Redis restarted without its data (no AOF, no RDB here: `appendonly no`, `save ""`): every
 * process finds a new fan-out epoch once it reads again. The loss is reported once per process
 * (`broker_data_lost`) and the client of a session homed there is told, never a silent gap: its
 * transport closes and its resume gets a reset (`replay_window_exceeded` while the home still holds
 * the session, `session_unknown` once it found the session's state gone from Redis).
 */
import { describe, expect, it } from 'vitest'
import type { BrokerError } from '../../src/redis'
import { wsPeer } from '../support/peer'
import { useRedis } from '../support/redis-server'
import { until } from '../support/servers'
import { feedPeer, redisNode } from './nodes'

const fixture = useRedis({ config: ['appendonly no'] })
const codes = (errors: unknown[]) => errors.map((e) => (e as BrokerError).code)

describe('Redis back without its data (new fan-out epoch)', () => {
  it('broker_data_lost once per process; the client of a session homed there is told: closed, reset on resume', async () => {
    const p = `dl-${process.pid}:`
    const [home, publisher] = await Promise.all([redisNode(fixture, p), redisNode(fixture, p)])
    const { peer, sid } = await feedPeer(home, publisher)

    await fixture.redis.stop()
    await until(() => codes(home.errors).includes('broker_unavailable'), 30_000, 'the outage to be reported')
    await fixture.redis.start()
    await until(() => [home, publisher].every((n) => codes(n.errors).includes('broker_data_lost')), 30_000, 'the loss to be reported')
    // Usually the session layer finds the session's state gone first (fenced: 4409); else the new epoch closes it (1001).
    expect([1001, 4409]).toContain((await peer.closed()).code)
    const again = wsPeer(home.url, `sid=${sid}&last=5`)
    expect(['replay_window_exceeded', 'session_unknown']).toContain((await again.hello()).reset)
    // Fan-out works again, and the loss was reported once per process.
    await publisher.realtime.publish('feed', { type: 'tick', n: 6 })
    for (const n of [home, publisher]) expect(codes(n.errors).filter((c) => c === 'broker_data_lost')).toHaveLength(1)
  })
})
