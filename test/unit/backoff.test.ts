/** Specification of the reconnect delay (src/client/backoff.ts) and the timer bound (time.ts). */
import { describe, expect, it } from 'vitest'
import { backoffDefaults, fullJitterBackoff } from '../../src'
import { MAX_TIMER_MS, now, timerMs } from '../../src/client/time'

describe('fullJitterBackoff', () => {
  it('draws from [0, min(maxDelayMs, baseDelayMs · 2^(attempt−1))]', () => {
    const top = fullJitterBackoff(100, 1_000, () => 0.999999)
    expect([1, 2, 3, 4, 5, 50].map(top)).toEqual([99, 199, 399, 799, 999, 999])
    expect(fullJitterBackoff(100, 1_000, () => 0)(7)).toBe(0)
  })

  it('defaults to 500 ms doubling up to 30 s', () => {
    expect(backoffDefaults).toEqual({ baseDelayMs: 500, maxDelayMs: 30_000 })
    const top = fullJitterBackoff(undefined, undefined, () => 0.999999)
    expect(top(1)).toBe(499)
    expect(top(1_000)).toBe(29_999)
  })

  it('never overflows for huge attempt numbers', () => {
    expect(Number.isFinite(fullJitterBackoff(500, 30_000, () => 0.5)(1e9))).toBe(true)
  })
})

describe('timerMs', () => {
  it('clamps delays to what setTimeout honours: Infinity and 2^31 become 2^31 − 1, NaN and negatives 0', () => {
    expect([Infinity, 2 ** 31, 2 ** 40].map(timerMs)).toEqual([MAX_TIMER_MS, MAX_TIMER_MS, MAX_TIMER_MS])
    expect([NaN, -5, 0, 10].map(timerMs)).toEqual([0, 0, 0, 10])
  })

  it('reads a monotonic clock', () => {
    const a = now()
    const b = now()
    expect(b).toBeGreaterThanOrEqual(a)
  })
})
