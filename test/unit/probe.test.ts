/** Specification of the background probe's timing (src/client/probe.ts), on fake timers and clock. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { BackgroundProbe, PROBE_HELLO_GRACE_MS } from '../../src/client/probe'

beforeEach(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] }))
afterEach(() => void vi.useRealTimers())

function setup(token: () => Promise<string | undefined> = async () => 't', onSse = () => true) {
  const log: string[] = []
  let n = 0
  const probe = new BackgroundProbe<number>(
    { wsProbeIntervalMs: 1_000, connectTimeoutMs: 5_000 },
    { token, onSse, open: (t) => (log.push(`open ${t}`), ++n), drop: (c) => void log.push(`drop ${c}`), failed: () => void log.push('failed') },
  )
  return { probe, log }
}
const flush = () => vi.advanceTimersByTimeAsync(0)

describe('BackgroundProbe', () => {
  it('opens a probe after wsProbeIntervalMs and gives it up after connectTimeoutMs without a hello', async () => {
    const { probe, log } = setup()
    probe.schedule()
    await vi.advanceTimersByTimeAsync(999)
    expect(log).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(log).toEqual(['open t'])
    await vi.advanceTimersByTimeAsync(5_000)
    expect(log).toEqual(['open t', 'drop 1', 'failed'])
  })

  it('counts a token provider that never settles against connectTimeoutMs, and ignores its late answer', async () => {
    let settle: (t: string) => void = () => {}
    const { probe, log } = setup(() => new Promise((r) => (settle = r)))
    probe.schedule()
    await vi.advanceTimersByTimeAsync(1_000 + 5_000)
    expect(log).toEqual(['failed'])
    settle('late')
    await flush()
    expect(log).toEqual(['failed'])
  })

  it('reports a throwing token provider as a failed probe', async () => {
    const { probe, log } = setup(async () => {
      throw new Error('no token')
    })
    probe.schedule()
    await vi.advanceTimersByTimeAsync(1_000)
    expect(log).toEqual(['failed'])
  })

  it('opens nothing when the client left SSE meanwhile', async () => {
    const { probe, log } = setup(async () => 't', () => false)
    probe.schedule()
    await vi.advanceTimersByTimeAsync(1_000)
    expect(log).toEqual([])
  })

  it('after the old stream ended, waits for the hello about a handshake, not connectTimeoutMs', async () => {
    const { probe, log } = setup()
    probe.schedule()
    await vi.advanceTimersByTimeAsync(1_000)
    await vi.advanceTimersByTimeAsync(40)
    probe.opened() // a 40 ms handshake
    probe.awaitHello(1)
    await vi.advanceTimersByTimeAsync(PROBE_HELLO_GRACE_MS + 80 - 1)
    expect(log).toEqual(['open t'])
    await vi.advanceTimersByTimeAsync(1)
    expect(log).toEqual(['open t', 'drop 1', 'failed'])
  })

  it('does nothing more after stop(), also when stopped again after a new schedule()', async () => {
    const { probe, log } = setup()
    probe.schedule()
    probe.stop()
    await vi.advanceTimersByTimeAsync(60_000)
    probe.schedule()
    await vi.advanceTimersByTimeAsync(1_000)
    probe.stop()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(log).toEqual(['open t'])
  })

  it('never probes with wsProbeIntervalMs 0', async () => {
    const log: string[] = []
    const probe = new BackgroundProbe<number>({ wsProbeIntervalMs: 0, connectTimeoutMs: 5_000 }, { token: async () => 't', onSse: () => true, open: () => (log.push('open'), 1), drop: () => {}, failed: () => {} })
    probe.schedule()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(log).toEqual([])
  })
})
