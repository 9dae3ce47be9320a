/** Specification of the WebSocket → SSE decision (src/client/fallback.ts) and its memory (memory.ts). */
import { describe, expect, it } from 'vitest'
import { WsFallback } from '../../src/client/fallback'
import { FallbackMemory, type KeyValueStorage } from '../../src/client/memory'

function storage(): KeyValueStorage & { map: Map<string, string> } {
  const map = new Map<string, string>()
  return { map, getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) }
}
function setup(threshold = 1, ttlMs = 1_000) {
  const clock = { now: 1_000_000 }
  const store = storage()
  const memory = new FallbackMemory(store, 'key', ttlMs, () => clock.now)
  return { fb: new WsFallback(memory, threshold), memory, store, clock }
}

describe('WsFallback', () => {
  it('tries WebSocket first when it is wanted, available and nothing is remembered', () => {
    const { fb } = setup()
    expect(fb.begin(true, true)).toBe(true)
    expect(fb.reason).toBeUndefined()
  })

  it('uses SSE with reason ws_unavailable when the runtime has no WebSocket', () => {
    const { fb } = setup()
    expect(fb.begin('unavailable', true)).toBe(false)
    expect(fb.reason).toBe('ws_unavailable')
    expect(fb.won('sse', true)).toBe('ws_unavailable')
  })

  it('falls back once wsFailuresBeforeFallback failures in a row were counted', () => {
    const { fb } = setup(2)
    fb.begin(true, true)
    expect(fb.failed('ws_refused')).toBe(false)
    expect(fb.begin(true, true)).toBe(true)
    expect(fb.failed('ws_timeout')).toBe(true)
    expect(fb.begin(true, true)).toBe(false)
    expect(fb.reason).toBe('ws_refused')
  })

  it('always tries WebSocket when SSE is not allowed, however often it failed', () => {
    const { fb } = setup(1)
    fb.begin(true, false)
    fb.failed('ws_refused')
    expect(fb.begin(true, false)).toBe(true)
  })

  it('does not blame WebSocket when SSE failed too (the server is down): the count starts again', () => {
    const { fb } = setup(2)
    fb.begin(true, true)
    fb.failed('ws_refused')
    fb.serverDown()
    fb.failed('ws_refused')
    expect(fb.begin(true, true)).toBe(true)
  })

  it('marks a refused handshake in this attempt (refusedNow) and clears it on the next', () => {
    const { fb } = setup(3)
    fb.begin(true, true)
    fb.failed('ws_refused')
    expect(fb.refusedNow).toBe(true)
    fb.begin(true, true)
    expect(fb.refusedNow).toBe(false)
  })

  it('remembers a blocked WebSocket when SSE won after a WebSocket failure, and says why', () => {
    const { fb, store } = setup()
    fb.begin(true, true)
    fb.failed('ws_silent')
    expect(fb.won('sse', true)).toBe('ws_silent')
    expect(store.map.size).toBe(1)
    expect(fb.begin(true, true)).toBe(false)
    expect(fb.reason).toBe('ws_remembered')
  })

  it('does not remember anything when SSE won without WebSocket being tried', () => {
    const { fb, store } = setup()
    fb.begin('unavailable', true)
    fb.won('sse', true)
    expect(store.map.size).toBe(0)
  })

  it('reports `opened` for SSE when WebSocket is not wanted at all', () => {
    const { fb } = setup()
    fb.begin(false, true)
    expect(fb.won('sse', false)).toBe('opened')
  })

  it('forgets failures and memory once WebSocket wins (or a probe restores it)', () => {
    const { fb, store } = setup()
    fb.begin(true, true)
    fb.failed('ws_refused')
    fb.won('sse', true)
    expect(store.map.size).toBe(1)
    fb.restored()
    expect(store.map.size).toBe(0)
    expect(fb.begin(true, true)).toBe(true)
    expect(fb.won('websocket', true)).toBe('opened')
  })
})

describe('FallbackMemory', () => {
  it('expires after its time to live', () => {
    const { memory, clock } = setup(1, 1_000)
    memory.block()
    expect(memory.isBlocked()).toBe(true)
    clock.now += 1_001
    expect(memory.isBlocked()).toBe(false)
  })

  it('remembers nothing with ttl 0 or without storage', () => {
    expect(new FallbackMemory(storage(), 'k', 0).isBlocked()).toBe(false)
    const none = new FallbackMemory(null, 'k', 1_000)
    none.block()
    expect(none.isBlocked()).toBe(false)
  })

  it('behaves as not remembered when the storage throws', () => {
    const throwing: KeyValueStorage = {
      getItem: () => {
        throw new Error('denied')
      },
      setItem: () => {
        throw new Error('quota')
      },
      removeItem: () => {
        throw new Error('denied')
      },
    }
    const m = new FallbackMemory(throwing, 'k', 1_000)
    expect(() => m.block()).not.toThrow()
    expect(m.isBlocked()).toBe(false)
    expect(() => m.clear()).not.toThrow()
  })
})
