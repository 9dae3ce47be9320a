/** The Redis broker's fan-out read position: who waits for it, and for how long at most. */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ReadPosition } from '../../src/redis/position'

afterEach(() => vi.useRealTimers())

describe('ReadPosition', () => {
  it('resolves at once for an entry already delivered, and when a later entry is', async () => {
    const p = new ReadPosition('5-0')
    expect(await p.reached('4-9', 1_000)).toBe(true)
    expect(await p.reached('5-0', 1_000)).toBe(true)
    const order: string[] = []
    const a = p.reached('6-0', 60_000).then((r) => order.push(`6-0:${r}`))
    const b = p.reached('7-1', 60_000).then((r) => order.push(`7-1:${r}`))
    p.moveTo('6-3') // past 6-0, not 7-1
    expect(order).toEqual([]) // let go by settle() (once per batch read), not by each entry
    p.settle()
    await a
    expect(order).toEqual(['6-0:true'])
    p.moveTo('7-1')
    p.settle()
    await b
    expect(order).toEqual(['6-0:true', '7-1:true'])
  })

  it('gives up after ms (a reader down or behind): false, and the waiter is gone', async () => {
    vi.useFakeTimers()
    const p = new ReadPosition()
    let got: boolean | undefined
    void p.reached('9-0', 5_000).then((r) => (got = r))
    await vi.advanceTimersByTimeAsync(4_999)
    expect(got).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    expect(got).toBe(false)
    p.moveTo('9-0') // a late delivery finds nobody waiting (and settles nothing twice)
    p.settle()
    expect(vi.getTimerCount()).toBe(0)
  })

  it('release(): everyone still waiting resolves false, and no timer is left; a wait asked for later returns at once', async () => {
    vi.useFakeTimers()
    const p = new ReadPosition('1-0')
    const waits = [p.reached('2-0', 5_000), p.reached('3-0', 5_000)]
    p.release()
    expect(await Promise.all(waits)).toEqual([false, false])
    // A publish Redis answered after close(): the stopped reader will deliver nothing, so no 5 s wait (nor a timer keeping Node up).
    expect(await p.reached('4-0', 5_000)).toBe(false)
    expect(await p.reached('1-0', 5_000)).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
  })
})
