/**
 * The replay window is sized by age and bytes, not by count alone (issue #9 item 4): with the
 * default options a short drop during a burst of 5,000 small messages resumes with no reset, and
 * the bounds (per session, process total, age) are enforced.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { msgFrame, ReplayLog, type ReplayBounds } from '../../src/server/replay-log'
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
  /** A payload whose msg frame text is exactly `n` characters for a two-digit id (what the bounds count). */
  const text = (n: number) => JSON.stringify('x'.repeat(n - '{"t":"msg","id":10,"d":""}'.length))
  const push = (log: ReplayLog, id: number, payload: string) => log.push(id, payload, undefined, msgFrame(id, payload, undefined).length)

  it('per-session bytes: the oldest go first; a replay rebuilds each frame', () => {
    const log = new ReplayLog(bounds())
    for (let id = 10; id <= 39; id++) push(log, id, text(100))
    expect(log.bytes).toBeLessThanOrEqual(1_000)
    expect(log.oldest).toBe(30)
    expect([...log.after(34)].map((e) => e.id)).toEqual([35, 36, 37, 38, 39])
    expect(JSON.parse([...log.after(38)][0]!.text)).toEqual({ t: 'msg', id: 39, d: JSON.parse(text(100)) })
    log.push(40, '{"a":1}', 'room "1"', msgFrame(40, '{"a":1}', 'room "1"').length)
    expect(JSON.parse([...log.after(39)][0]!.text)).toEqual({ t: 'msg', id: 40, topic: 'room "1"', d: { a: 1 } })
    log.pushFrame(41, '{"t":"msg","id":41,"d":2}') // restored as a whole frame (a shared store)
    expect([...log.after(40)]).toEqual([{ id: 41, text: '{"t":"msg","id":41,"d":2}' }])
  })

  it('age: entries older than maxAgeMs are trimmed', () => {
    t = 0
    const log = new ReplayLog(bounds())
    push(log, 1, '"a"')
    t = 30_000
    push(log, 2, '"b"')
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
    for (let id = 10; id <= 49; id++) push(a, id, text(100))
    for (let id = 10; id <= 49; id++) push(c, id, text(100))
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
