/**
 * The replay window is sized by age and bytes, not by count alone (issue #9 item 4): with the
 * default options a short drop during a burst of 5,000 small messages resumes with no reset, and
 * the bounds (per session, process total, age) are enforced.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ReplayLog, type ReplayBounds } from '../../src/server/replay-log'
import { serverDefaults } from '../../src/server/options'
import { startProxy } from '../support/proxy'
import { closeClients, makeClient, startServer, until, type TestServer } from '../support/servers'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  closeClients()
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

describe.each(['websocket', 'sse'] as const)('a short drop during a burst (%s)', (transport) => {
  it('5,000 small messages with the connection cut mid-burst: all arrive once, in order, no reset (default options)', async () => {
    const s: TestServer = await startServer()
    cleanups.push(() => s.close())
    const proxy = await startProxy({ targetPort: s.port })
    cleanups.push(() => proxy.close())
    const c = makeClient(proxy.url('/realtime'), { transports: [transport] })
    const got: number[] = []
    const resets: string[] = []
    c.onMessage('tick', (m) => got.push(m.n))
    c.on('reset', (e) => resets.push(e.reason))
    await c.connect()
    const conn = s.realtime.connections[0]!
    for (let n = 1; n <= 5_000; n++) {
      void conn.send({ type: 'tick', n })
      if (n === 1_000) proxy.dropAll() // the client misses ~4,000: four times the old count window
    }
    await until(() => got.length >= 5_000, 30_000, 'all 5,000 ticks')
    expect(resets).toEqual([])
    expect(got).toEqual(Array.from({ length: 5_000 }, (_, i) => i + 1))
  })
})

describe('ReplayLog bounds', () => {
  let t = 0
  const bounds = (over: Partial<ReplayBounds> = {}): ReplayBounds => ({
    maxMessages: Infinity,
    maxBytes: 1_000,
    maxAgeMs: 60_000,
    maxTotalBytes: 10_000,
    used: { bytes: 0 },
    now: () => t,
    ...over,
  })
  const text = (n: number) => 'x'.repeat(n)

  it('per-session bytes: the oldest go first', () => {
    const log = new ReplayLog(bounds())
    for (let id = 1; id <= 30; id++) log.push(id, text(100))
    expect(log.bytes).toBeLessThanOrEqual(1_000)
    expect(log.oldest).toBe(21)
    expect([...log.after(25)].map((e) => e.id)).toEqual([26, 27, 28, 29, 30])
  })

  it('age: entries older than maxAgeMs are trimmed', () => {
    t = 0
    const log = new ReplayLog(bounds())
    log.push(1, 'a')
    t = 30_000
    log.push(2, 'b')
    t = 60_001
    log.trim()
    expect(log.oldest).toBe(2)
    t = 90_001
    log.trim()
    expect(log.size).toBe(0)
  })

  it('process total: the log that pushes past it pays, and the total stays within the bound', () => {
    const b = bounds({ maxBytes: 5_000, maxTotalBytes: 6_000 })
    const a = new ReplayLog(b)
    const c = new ReplayLog(b)
    for (let id = 1; id <= 40; id++) a.push(id, text(100))
    for (let id = 1; id <= 40; id++) c.push(id, text(100))
    expect(b.used.bytes).toBeLessThanOrEqual(6_000)
    expect(b.used.bytes).toBe(a.bytes + c.bytes)
    a.clear()
    expect(b.used.bytes).toBe(c.bytes)
  })

  it('defaults: by bytes and age, no count bound', () => {
    expect(serverDefaults.replayWindow).toBe(Infinity)
    expect(serverDefaults.replayWindowBytes).toBe(1_048_576)
    expect(serverDefaults.maxReplayBytes).toBe(268_435_456)
  })
})
