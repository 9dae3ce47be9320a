/** Specification of liveness checks (src/client/keepalive.ts), on fake timers and a fake monotonic clock. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Keepalive } from '../../src/client/keepalive'
import { MAX_TIMER_MS } from '../../src/client/time'
import type { ClientFrame } from '../../src/protocol'

beforeEach(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] }))
afterEach(() => void vi.useRealTimers())

function setup(o: Partial<ConstructorParameters<typeof Keepalive>[0]> = {}) {
  const dead: [string, string][] = []
  const sent: ClientFrame[] = []
  const k = new Keepalive({ pingIntervalMs: 1_000, pongTimeoutMs: 500, ...o }, (reason, detail) => void dead.push([reason, detail]))
  const transport = { send: (frames: ClientFrame[]) => void sent.push(...frames) }
  return { k, dead, sent, transport }
}

describe('Keepalive on WebSocket', () => {
  it('pings every pingIntervalMs (never less often than the server heartbeat)', () => {
    const { k, sent, transport } = setup({ pingIntervalMs: 20_000 })
    k.start('websocket', 5_000, transport)
    vi.advanceTimersByTime(5_000)
    expect(sent).toEqual([{ t: 'ping' }])
    k.alive()
    vi.advanceTimersByTime(5_000)
    expect(sent).toHaveLength(2)
    k.stop()
  })

  it('reports pong_timeout when nothing comes back within pongTimeoutMs', () => {
    const { k, dead, transport } = setup()
    k.start('websocket', 15_000, transport)
    vi.advanceTimersByTime(1_000 + 499)
    expect(dead).toEqual([])
    vi.advanceTimersByTime(1)
    expect(dead.map((d) => d[0])).toEqual(['pong_timeout'])
  })

  it('any frame back counts as a pong', () => {
    const { k, dead, transport } = setup()
    k.start('websocket', 15_000, transport)
    vi.advanceTimersByTime(1_200)
    k.alive()
    vi.advanceTimersByTime(700)
    expect(dead).toEqual([])
    k.stop()
  })

  it('never pings with pingIntervalMs 0', () => {
    const { k, sent, dead, transport } = setup({ pingIntervalMs: 0 })
    k.start('websocket', 15_000, transport)
    vi.advanceTimersByTime(120_000)
    expect([sent, dead]).toEqual([[], []])
  })

  it('asks again instead of declaring death while the page is hidden', () => {
    const { k, sent, dead, transport } = setup()
    k.start('websocket', 15_000, transport, { subscribe: () => () => {}, hidden: () => true })
    k.ping()
    vi.advanceTimersByTime(500)
    expect(dead).toEqual([])
    expect(sent.length).toBe(2)
    k.stop()
  })

  it('treats a huge pongTimeoutMs as "effectively never", not as setTimeout overflow (1 ms)', () => {
    const { k, dead, transport } = setup({ pongTimeoutMs: Infinity })
    k.start('websocket', 15_000, transport)
    k.ping()
    vi.advanceTimersByTime(60_000)
    expect(dead).toEqual([])
    k.stop()
  })
})

describe('Keepalive on SSE', () => {
  it('reports sse_silent after 2.5 × the server heartbeat with no frame', () => {
    const { k, dead, transport } = setup()
    k.start('sse', 1_000, transport)
    vi.advanceTimersByTime(2_499)
    expect(dead).toEqual([])
    vi.advanceTimersByTime(1)
    expect(dead).toEqual([['sse_silent', 'no frame or heartbeat for 2500 ms']])
  })

  it('any frame restarts the silence window', () => {
    const { k, dead, transport } = setup()
    k.start('sse', 1_000, transport)
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(2_000)
      k.alive()
    }
    expect(dead).toEqual([])
    vi.advanceTimersByTime(2_500)
    expect(dead.map((d) => d[0])).toEqual(['sse_silent'])
  })

  it('uses sseSilenceTimeoutMs when set', () => {
    const { k, dead, transport } = setup({ sseSilenceTimeoutMs: 300 })
    k.start('sse', 15_000, transport)
    vi.advanceTimersByTime(300)
    expect(dead.map((d) => d[0])).toEqual(['sse_silent'])
  })

  it('clamps a server heartbeat of 2^31 ms instead of firing the silence timer every millisecond', () => {
    const { k, dead, transport } = setup()
    const armed = vi.spyOn(globalThis, 'setTimeout')
    k.start('sse', 2 ** 31, transport)
    vi.advanceTimersByTime(3_000)
    expect(dead).toEqual([])
    expect(armed.mock.calls.length).toBe(1)
    expect(armed.mock.calls[0]![1]).toBe(MAX_TIMER_MS)
    k.stop()
  })

  it('measures silence on the monotonic clock: the wall clock set back an hour changes nothing', () => {
    const { k, dead, transport } = setup()
    k.start('sse', 1_000, transport)
    vi.setSystemTime(Date.now() - 3_600_000) // Date only; performance.now keeps counting
    vi.advanceTimersByTime(2_500)
    expect(dead.map((d) => d[0])).toEqual(['sse_silent'])
  })

  it('reports nothing after stop()', () => {
    const { k, dead, transport } = setup()
    k.start('sse', 1_000, transport)
    k.stop()
    vi.advanceTimersByTime(10_000)
    expect(dead).toEqual([])
  })
})
