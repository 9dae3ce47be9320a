/** Specification of option checking and defaults (src/client/options.ts). */
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { ConfigError, clientDefaults } from '../../src'
import { resolveClientOptions } from '../../src/client/options'
import { MAX_TIMER_MS } from '../../src/client/time'
import { DEFAULT_HEARTBEAT_MS } from '../../src/protocol'

const base = { url: 'http://127.0.0.1:1/rt', incoming: z.any(), outgoing: z.any() }

describe('resolveClientOptions', () => {
  it('applies clientDefaults for everything unset or undefined', () => {
    const o = resolveClientOptions({ ...base, connectTimeoutMs: undefined })
    for (const [k, v] of Object.entries(clientDefaults)) expect(o[k as keyof typeof o], k).toEqual(v)
    expect(clientDefaults.postTimeoutMs).toBe(15_000)
    expect(DEFAULT_HEARTBEAT_MS).toBe(15_000)
  })

  it('keeps given values', () => {
    const o = resolveClientOptions({ ...base, connectTimeoutMs: 123, maxAttempts: 4 })
    expect([o.connectTimeoutMs, o.maxAttempts]).toEqual([123, 4])
  })

  it('clamps timer options above 2^31 − 1 ms (Infinity: never) instead of letting setTimeout fire after 1 ms', () => {
    const o = resolveClientOptions({ ...base, connectTimeoutMs: Infinity, pongTimeoutMs: Infinity, sseSilenceTimeoutMs: 2 ** 40, postTimeoutMs: 2 ** 31 })
    expect([o.connectTimeoutMs, o.pongTimeoutMs, o.sseSilenceTimeoutMs, o.postTimeoutMs]).toEqual([MAX_TIMER_MS, MAX_TIMER_MS, MAX_TIMER_MS, MAX_TIMER_MS])
  })

  it.each([
    ['connectTimeoutMs', 0],
    ['connectTimeoutMs', -1],
    ['connectTimeoutMs', NaN],
    ['pongTimeoutMs', '10'],
    ['sseHeadStartMs', -5],
    ['maxAttempts', 0],
    ['maxAttempts', 1.5],
    ['authRetries', -1],
    ['maxQueuedMessages', 0],
    ['wsFailuresBeforeFallback', 0],
  ])('throws a ConfigError naming the range for %s = %s', (key, value) => {
    let err: unknown
    try {
      resolveClientOptions({ ...base, [key]: value })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toContain(`\`${key}\` must be`)
    expect((err as Error).message).toMatch(/in \[\d+, Infinity\]/)
  })

  it('accepts Infinity for maxAttempts and 0 for the options 0 turns off', () => {
    expect(() => resolveClientOptions({ ...base, maxAttempts: Infinity, pingIntervalMs: 0, wsProbeIntervalMs: 0, rememberFallbackMs: 0, authRetries: 0 })).not.toThrow()
  })

  it('rejects a backoff that is not a function', () => {
    expect(() => resolveClientOptions({ ...base, backoff: 5 as never })).toThrow(ConfigError)
  })
})
