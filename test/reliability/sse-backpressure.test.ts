/**
 * SSE push under backpressure, over a real socket: the server pushes in bursts of 100 per
 * event-loop turn (as the bench does) to a client that does not read at first and then reads one
 * chunk per event-loop turn. The outbox fills, waits on 'drain' (or polls), flushes again many
 * times; every id must arrive exactly once, in order. A lost wake-up in the flush (a flag not
 * reset on drain, a skipped end-of-tick flush) shows up as a stream that stops short: the test
 * then fails naming the last id seen. Stays under maxBufferedBytes (no slow-consumer close).
 */
import { request, type IncomingMessage } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { startServer, until, type TestServer } from '../support/servers'

const N = 30_000 // three rounds of 10,000 messages of ~1 kB: ~10 MB each, more than loopback's socket buffers hold
const PAD = 'x'.repeat(1000)
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024 // room for a whole round: this test is about wake-ups, not the slow-consumer bound
const BURST = 100
const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** Send ids from+1 … to, BURST per event-loop turn. */
function pushInBursts(from: number, to: number, send: (i: number) => void): Promise<void> {
  return new Promise((resolve) => {
    let i = from
    const burst = () => {
      const end = Math.min(to, i + BURST)
      while (i < end) send(++i)
      if (i < to) setImmediate(burst)
      else resolve()
    }
    burst()
  })
}

describe('SSE push under backpressure', () => {
  it('a client that reads late and slowly gets every id exactly once, in order', async () => {
    const s: TestServer = await startServer({ maxBufferedBytes: MAX_BUFFERED_BYTES })
    cleanups.push(() => s.close())
    const errors: unknown[] = []
    s.realtime.on('error', (e) => errors.push(e))
    let push: ((from: number, to: number) => Promise<void>) | undefined
    s.realtime.on('connection', (conn) => {
      push = (from, to) => pushInBursts(from, to, (i) => void conn.send({ type: 'echo', text: `tick ${i} ${PAD}` }))
    })

    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: s.port, path: '/realtime?v=1', headers: { Accept: 'text/event-stream' }, agent: false }, resolve)
      req.on('error', reject)
      req.end()
    })
    cleanups.push(() => res.destroy())
    res.pause() // nothing read until the first round is queued: socket buffers full, outbox waiting
    res.setEncoding('utf8')

    const ids: number[] = []
    let texts = 0
    let slow = false
    let rest = ''
    res.on('data', (chunk: string) => {
      const events = (rest + chunk).split('\n\n')
      rest = events.pop()!
      for (const ev of events) {
        const id = /^id: (\d+)$/m.exec(ev)
        if (id) ids.push(Number(id[1]))
        if (ev.includes('"text":"tick ')) texts++
        if (ev.includes('slow_consumer')) slow = true
      }
      res.pause() // one chunk per turn: a slow reader
      setImmediate(() => res.resume())
    })

    await until(() => push !== undefined, 15_000, 'connection')
    const arrived = async (n: number) => {
      await until(() => ids.length >= n || slow || res.destroyed, 45_000, `${n} ids`)
      if (ids.length < n) throw new Error(`the stream stopped short: ${ids.length} of ${n} ids, last ${ids.at(-1)}`)
    }
    // Round 1: all queued before the client reads. Round 2: pushed while the client reads slowly,
    // so the outbox empties and refills between drains. Round 3: after the stream went quiet.
    await push!(0, N / 3)
    res.resume()
    await arrived(N / 3)
    await push!(N / 3, (2 * N) / 3)
    await arrived((2 * N) / 3)
    await push!((2 * N) / 3, N)
    await arrived(N)

    expect(slow).toBe(false)
    expect(errors).toEqual([])
    expect(texts).toBe(N)
    expect(ids.length).toBe(N)
    expect(ids.every((id, i) => id === i + 1)).toBe(true) // 1…N, each once, in order
  }, 120_000)
})
