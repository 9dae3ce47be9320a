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

  it('settles thousands of frames with cumulative acks in order, whatever the ack granularity', async () => {
    const o = new Outbox(10_000, 1e9)
    const order: number[] = []
    const ps = Array.from({ length: 5_000 }, (_, i) => o.push(msg(i + 1), 10).then(() => void order.push(i + 1)))
    expect(o.takeUnsent()).toHaveLength(5_000)
    for (let seq = 1; seq <= 3_000; seq++) o.ack(seq) // one ack per frame (past the compaction point)
    o.ack(2_999) // a stale ack changes nothing
    expect([o.size, o.bytes]).toEqual([2_000, 20_000])
    for (let n = 5_001; n <= 5_010; n++) void o.push(msg(n), 10)
    expect(o.takeUnsent().map((f) => f.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 5_001 + i)) // only the new ones
    o.ack(4_000)
    o.markAllUnsent()
    expect(o.takeUnsent().map((f) => f.seq)).toEqual(Array.from({ length: 1_010 }, (_, i) => 4_001 + i))
    o.ack(5_000)
    await Promise.all(ps)
    expect(order).toEqual(Array.from({ length: 5_000 }, (_, i) => i + 1))
    expect([o.size, o.bytes]).toEqual([10, 100])
  })

  it('after acks moved the head, a frame sorted in behind written ones is still handed out once', () => {
    const o = new Outbox(100, 1e6)
    o.continueAt(10)
    for (let i = 0; i < 5; i++) void o.push(msg(i), 1) // 10..14
    o.takeUnsent()
    o.ack(11)
    void o.push(msg(99), 1, 12) // a number another tab gave it: after 12, before 13
    expect(o.takeUnsent().map((f) => f.seq)).toEqual([12])
    expect(o.takeUnsent()).toEqual([])
    o.nack(13, new Error('no'))
    o.markAllUnsent()
    expect(o.takeUnsent().map((f) => f.seq)).toEqual([14])
  })

  it('hands the same frame object out on every resend, with its seq renumbered in place', () => {
    const o = new Outbox(10, 1_000)
    void o.push(msg(1), 10)
    void o.push(msg(2), 10)
    const [a, b] = o.takeUnsent()
    o.ack(1)
    o.renumber()
    const [again] = o.takeUnsent()
    expect(again).toBe(b)
    expect(again!.seq).toBe(1)
    expect(a!.seq).toBe(1)
  })

  it('a rejected send() is never an unhandled rejection, and an awaiting caller still sees the error', async () => {
    const unhandled: unknown[] = []
    const on = (e: unknown) => unhandled.push(e)
    process.on('unhandledRejection', on)
    try {
      const o = new Outbox(1, 1_000)
      void o.push(msg(1), 10) // fire and forget: rejected by rejectAll below
      const full = o.push(msg(2), 10) // queue_full at once
      const awaited = o.push(msg(3), 10)
      o.rejectAll(new SurewireError('client_closed', 'closed'))
      expect(await settled(awaited)).toMatchObject({ code: 'queue_full' })
      void full
      await new Promise((r) => setImmediate(r)) // Node reports unhandled rejections once the microtasks ran
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', on)
    }
  })
})
