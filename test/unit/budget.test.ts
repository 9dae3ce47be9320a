/** Specification of the retry budget (src/client/budget.ts): counts that a refusal loop cannot reset. */
import { describe, expect, it } from 'vitest'
import { RetryBudget } from '../../src/client/budget'

describe('RetryBudget', () => {
  it('numbers reconnects 1, 2, 3 … for the backoff until a healthy connection', () => {
    const b = new RetryBudget(Infinity, 1)
    expect([b.next(true), b.next(false), b.next(true)]).toEqual([true, true, true])
    expect(b.attempt).toBe(3)
    b.healthy()
    expect(b.attempt).toBe(0)
  })

  it('gives up after maxAttempts failed attempts in a row; a drop is not a failed attempt', () => {
    const b = new RetryBudget(1, 1)
    expect(b.next(false)).toBe(true) // a healthy connection dropped: one reconnect attempt
    expect(b.next(true)).toBe(false) // … which failed
  })

  it('gives one refresh-and-retry per authRetries, then says stop', () => {
    const b = new RetryBudget(Infinity, 1)
    expect(b.authRefused('handshake')).toBe(true)
    expect(b.authRefused('handshake')).toBe(false)
  })

  it('clears a handshake refusal with the next hello', () => {
    const b = new RetryBudget(Infinity, 1)
    b.authRefused('handshake')
    b.proved('handshake')
    expect(b.refused).toBeUndefined()
    expect(b.authRefused('handshake')).toBe(true)
  })

  it('does not clear a refusal after the hello with the next hello (no open → refused → open loop)', () => {
    const b = new RetryBudget(3, 1)
    expect(b.authRefused('open')).toBe(true)
    b.proved('handshake') // the next hello
    expect(b.refused).toBe('open')
    expect(b.authRefused('open')).toBe(false)
    const c = new RetryBudget(3, 1)
    for (const _ of [1, 2]) {
      c.refusal('open')
      expect(c.next(true)).toBe(true)
      c.proved('handshake')
    }
    c.refusal('open')
    expect(c.next(true)).toBe(false) // three refused POSTs in a row, hellos in between
  })

  it('clears a refusal after the hello once the server accepts a request beyond the handshake, or on health', () => {
    const b = new RetryBudget(Infinity, 1)
    b.authRefused('open')
    b.proved('open') // a POST answered with acks
    expect(b.authRefused('open')).toBe(true)
    b.healthy()
    expect([b.refused, b.attempt]).toEqual([undefined, 0])
    expect(b.authRefused('open')).toBe(true)
  })

  it('reset() starts from nothing (connect())', () => {
    const b = new RetryBudget(2, 0)
    b.next(true)
    b.refusal('open')
    b.reset()
    expect([b.attempt, b.refused]).toEqual([0, undefined])
    expect(b.next(true)).toBe(true)
  })
})
