/** Specification of the client's outgoing queue (src/client/outbox.ts). */
import { describe, expect, it } from 'vitest'
import { SurewireError } from '../../src'
import { Outbox } from '../../src/client/outbox'

const msg = (n: number) => ({ t: 'msg' as const, d: { n } })
const settled = <T>(p: Promise<T>) => p.then(() => 'resolved', (e: Error) => e)

describe('Outbox', () => {
  it('numbers frames from 1 in push order and hands each out once per transport', () => {
    const o = new Outbox(10, 1_000)
    void o.push(msg(1), 10)
    void o.push(msg(2), 10)
    expect(o.takeUnsent().map((f) => f.seq)).toEqual([1, 2])
    expect(o.takeUnsent()).toEqual([])
    void o.push(msg(3), 10)
    expect(o.takeUnsent().map((f) => f.seq)).toEqual([3])
  })

  it('hands everything unacked out again after markAllUnsent (a new transport)', () => {
    const o = new Outbox(10, 1_000)
    void o.push(msg(1), 10)
    void o.push(msg(2), 10)
    o.takeUnsent()
    o.markAllUnsent()
    expect(o.takeUnsent().map((f) => f.seq)).toEqual([1, 2])
  })

  it('rejects with queue_full when the message count would exceed maxMessages, and queues nothing', async () => {
    const o = new Outbox(2, 1_000)
    void o.push(msg(1), 1)
    void o.push(msg(2), 1)
    const err = await settled(o.push(msg(3), 1))
    expect(err).toBeInstanceOf(SurewireError)
    expect(err).toMatchObject({ code: 'queue_full' })
    expect(o.size).toBe(2)
  })

  it('rejects with queue_full when the bytes would exceed maxBytes', async () => {
    const o = new Outbox(100, 100)
    void o.push(msg(1), 60)
    expect(await settled(o.push(msg(2), 41))).toMatchObject({ code: 'queue_full' })
    void o.push(msg(3), 40) // exactly at the bound: queued
    expect([o.size, o.bytes]).toEqual([2, 100])
  })

  it('resolves every frame up to a cumulative ack, in order, and frees their bytes', async () => {
    const o = new Outbox(10, 1_000)
    const order: number[] = []
    const ps = [1, 2, 3].map((n) => o.push(msg(n), 10).then(() => void order.push(n)))
    o.takeUnsent()
    o.ack(2)
    await Promise.all(ps.slice(0, 2))
    expect(order).toEqual([1, 2])
    expect(o.size).toBe(1)
    expect(o.bytes).toBe(10)
  })

  it('rejects a nacked frame with the given error and accepts everything before it', async () => {
    const o = new Outbox(10, 1_000)
    const a = o.push(msg(1), 10)
    const b = o.push(msg(2), 10)
    const c = o.push(msg(3), 10)
    o.takeUnsent()
    o.nack(2, new Error('no'))
    expect(await settled(a)).toBe('resolved')
    expect((await settled(b)) as Error).toMatchObject({ message: 'no' })
    expect(o.size).toBe(1)
    o.ack(3)
    expect(await settled(c)).toBe('resolved')
  })

  it('renumbers from 1 for a new server session and sends everything again', () => {
    const o = new Outbox(10, 1_000)
    for (let n = 1; n <= 3; n++) void o.push(msg(n), 10)
    o.takeUnsent()
    o.ack(1)
    o.renumber()
    expect(o.takeUnsent().map((f) => [f.seq, (f as { d: { n: number } }).d.n])).toEqual([
      [1, 2],
      [2, 3],
    ])
  })

  it('rejects frames over a newly learned limit with too_large and closes the sequence gap', async () => {
    const o = new Outbox(10, 10_000)
    const small = o.push(msg(1), 10)
    const big = o.push(msg(2), 5_000)
    void o.push(msg(3), 10)
    o.rejectLarger(100, (bytes) => new SurewireError('too_large', `${bytes}`))
    expect(await settled(big)).toMatchObject({ code: 'too_large', message: '5000' })
    expect(o.takeUnsent().map((f) => f.seq)).toEqual([1, 2])
    o.ack(2)
    expect(await settled(small)).toBe('resolved')
    expect(o.bytes).toBe(0)
  })

  it('rejects one refused frame (refuse) and renumbers what follows it down over the gap', async () => {
    const o = new Outbox(10, 1_000)
    void o.push(msg(1), 10)
    const refused = o.push(msg(2), 10)
    void o.push(msg(3), 10)
    o.takeUnsent()
    o.refuse(2, new SurewireError('too_large', 'big'))
    expect(await settled(refused)).toMatchObject({ code: 'too_large' })
    expect(o.takeUnsent().map((f) => [f.seq, (f as { d: { n: number } }).d.n])).toEqual([[2, 3]])
  })

  it('puts re-subscriptions ahead of everything and reports queued subscriptions', () => {
    const o = new Outbox(10, 1_000)
    void o.push({ t: 'sub', topic: 'a' }, 10)
    void o.push(msg(1), 10)
    expect(o.hasSub('a')).toBe(true)
    expect(o.hasSub('b')).toBe(false)
    o.unshift([{ t: 'sub', topic: 'b' }])
    o.renumber()
    expect(o.takeUnsent().map((f) => [f.seq, f.t])).toEqual([
      [1, 'sub'],
      [2, 'sub'],
      [3, 'msg'],
    ])
  })

  it('rejects everything on rejectAll and is empty afterwards', async () => {
    const o = new Outbox(10, 1_000)
    const ps = [o.push(msg(1), 10), o.push(msg(2), 10)]
    o.rejectAll(new SurewireError('client_closed', 'closed'))
    for (const p of ps) expect(await settled(p)).toMatchObject({ code: 'client_closed' })
    expect([o.size, o.bytes]).toEqual([0, 0])
  })
})
