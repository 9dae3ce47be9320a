/**
 * The write batching the benchmarks asked for (bench/RESULTS.md): the server writes the frames
 * of one tick together (WebSocket: the socket is corked until the tick ends; SSE: one chunk),
 * the SSE client watches for silence without re-arming a timer per frame, and every POST
 * carries its own AbortSignal. None of it may lose, reorder or delay a frame.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Connection } from '../src/server'
import type { FetchLike, StatusEvent, TransportKind } from '../src'
import type { ClientMessage, ServerMessage } from './support/schemas'
import { closeClients, makeClient, startServer, until, waitFor, type TestServer } from './support/servers'

let servers: TestServer[] = []
afterEach(async () => {
  vi.useRealTimers()
  closeClients()
  await Promise.all(servers.map((s) => s.close()))
  servers = []
})

async function server() {
  const s = await startServer()
  servers.push(s)
  return s
}
const latestConn = (s: TestServer) => s.realtime.connections.at(-1) as Connection<typeof ClientMessage, typeof ServerMessage>

describe.each<TransportKind>(['websocket', 'sse'])('server write batching on %s', (transport) => {
  it('a burst sent in one tick arrives complete and in order', async () => {
    const s = await server()
    const c = makeClient(s.url, { transports: [transport] })
    const ticks: number[] = []
    c.onMessage('tick', (m) => ticks.push(m.n))
    await c.connect()
    const conn = latestConn(s)
    for (let n = 1; n <= 2_000; n++) void conn.send({ type: 'tick', n })
    await until(() => ticks.length >= 2_000, 15_000, '2,000 ticks')
    expect(ticks).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1))
  })

  it('a message sent just before the server closes still arrives, and the client hears a clean close', async () => {
    const s = await server()
    const c = makeClient(s.url, { transports: [transport] })
    const ticks: number[] = []
    c.onMessage('tick', (m) => ticks.push(m.n))
    await c.connect()
    const lost = waitFor<StatusEvent>((fn) => c.on('status', fn), (e) => e.status === 'reconnecting', 15_000, 'reconnecting')
    void latestConn(s).send({ type: 'tick', n: 1 })
    await s.realtime.close() // same tick as the send: ends every session, then terminates the sockets
    expect((await lost).reason).toBe('server_closed')
    expect(ticks).toEqual([1])
  })
})

describe('SSE + POST', () => {
  it('gives every POST its own AbortSignal, and closing aborts the one in flight', async () => {
    const s = await server()
    const signals: AbortSignal[] = []
    let holdNext = false
    let held: (() => void) | undefined
    const fetchSpy: FetchLike = async (input, init) => {
      if (init.method === 'POST' && init.signal) {
        signals.push(init.signal)
        if (holdNext) await new Promise<void>((r) => (held = r)) // keep this POST in flight
      }
      return fetch(input, init)
    }
    const c = makeClient(s.url, { transports: ['sse'], fetch: fetchSpy })
    await c.connect()
    for (let i = 0; i < 3; i++) await c.send({ type: 'count', n: i }) // one POST each
    expect(signals.length).toBe(3)
    expect(new Set(signals).size).toBe(3)
    expect(signals.every((sig) => !sig.aborted)).toBe(true)

    holdNext = true
    const pending = c.send({ type: 'count', n: 3 })
    await until(() => held !== undefined, 15_000, 'the fourth POST to start')
    c.close()
    expect(signals[3]!.aborted).toBe(true)
    await expect(pending).rejects.toMatchObject({ code: 'client_closed' })
    held!()
  })

  it('still declares a silent stream dead, and a chatty one alive', async () => {
    const s = await server()
    // The client's silence watchdog runs on the test's clock (its timers and its monotonic clock), the
    // stream stays real: a loaded machine cannot stretch a 100 ms gap past the 400 ms limit.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const c = makeClient(s.url, { transports: ['sse'], sseSilenceTimeoutMs: 400 })
    await c.connect()
    const conn = latestConn(s)
    const statuses: StatusEvent[] = []
    c.on('status', (e) => statuses.push(e))
    // Tick n arrived, or the client changed status (a false alarm: it will not arrive on this stream).
    const arrived = (n: number) =>
      new Promise<void>((resolve) => {
        c.onMessage('tick', (m) => void (m.n === n && resolve()))
        c.on('status', () => resolve())
      })
    // A frame every 100 ms for 1.2 s, three times the silence limit: no false alarm.
    for (let n = 1; n <= 12; n++) {
      const got = arrived(n)
      void conn.send({ type: 'tick', n })
      await got // real I/O: the fake clock stands still meanwhile
      await vi.advanceTimersByTimeAsync(100)
      expect(statuses, `100 ms after tick ${n}`).toEqual([])
    }
    expect(statuses).toEqual([])
    // Then silence (heartbeats come every 15 s by default): declared dead 400 ms after the last frame, not before.
    await vi.advanceTimersByTimeAsync(299)
    expect(statuses).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(statuses.map((e) => `${e.status}:${e.reason}`)).toEqual(['reconnecting:sse_silent'])
  })
})
