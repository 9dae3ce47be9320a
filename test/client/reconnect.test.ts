/** Backoff, give-up, healthy reset and lifecycle-triggered retries. */
import { createServer } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { fullJitterBackoff, type LifecycleSource, type StatusEvent } from '../../src'
import { closeClients, makeClient, startServer, waitFor, type TestServer } from '../support/servers'

let servers: TestServer[] = []
afterEach(async () => {
  closeClients()
  await Promise.all(servers.map((s) => s.close()))
  servers = []
})

/** A port that nothing listens on (bound then released). */
async function deadPort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const { port } = srv.address() as { port: number }
  await new Promise<void>((r) => srv.close(() => r()))
  return port
}

/** A lifecycle source the test fires by hand (the browser's online/visibilitychange). */
function manualLifecycle() {
  let listener: ((e: 'online' | 'offline' | 'visible') => void) | undefined
  const source: LifecycleSource = {
    subscribe(l) {
      listener = l
      return () => (listener = undefined)
    },
  }
  return { source, fire: (e: 'online' | 'offline' | 'visible') => listener?.(e), subscribed: () => listener !== undefined }
}

describe('fullJitterBackoff', () => {
  it('stays within [0, min(cap, base·2^(n-1))] and reaches both ends', () => {
    const lo = fullJitterBackoff(100, 1_000, () => 0)
    const hi = fullJitterBackoff(100, 1_000, () => 0.999999)
    expect([1, 2, 3, 4, 5, 10, 100].map(lo)).toEqual([0, 0, 0, 0, 0, 0, 0])
    expect([1, 2, 3, 4, 5, 10, 100].map(hi)).toEqual([99, 199, 399, 799, 999, 999, 999])
  })

  it('spreads retries: 1,000 draws at attempt 5 are not bunched', () => {
    const b = fullJitterBackoff(500, 30_000)
    const draws = Array.from({ length: 1_000 }, () => b(5))
    const buckets = new Array(8).fill(0)
    for (const d of draws) buckets[Math.floor((d / 8_000) * 8)]++
    expect(Math.max(...draws)).toBeLessThan(8_000)
    for (const n of buckets) expect(n).toBeGreaterThan(60) // uniform would be 125 per bucket
  })
})

describe('reconnect policy', () => {
  it('close() from a reconnecting status listener stops the client: no retry timer is armed after it', async () => {
    const port = await deadPort()
    let attempts = 0
    const c = makeClient(`http://127.0.0.1:${port}/realtime`, { backoff: () => 0 })
    c.on('status', (e) => {
      if (e.status === 'connecting') attempts++
      if (e.status === 'reconnecting') c.close()
    })
    const err = await c.connect().catch((e: unknown) => e)
    expect((err as { code?: string }).code).toBe('client_closed')
    // A retry armed after close() would fire at once (backoff 0) and start a second attempt;
    // give it a later turn of the event loop than any 0 ms timer to show up.
    await new Promise<void>((r) => setTimeout(r, 20))
    expect(c.status).toBe('closed')
    expect(attempts).toBe(1)
  })

  it('surfaces attempt and delay while reconnecting, and gives up after maxAttempts', async () => {
    const port = await deadPort()
    const delays = [5, 10, 20]
    const c = makeClient(`http://127.0.0.1:${port}/realtime`, { maxAttempts: 3, backoff: (n) => delays[n - 1] ?? 40 })
    const events: StatusEvent[] = []
    c.on('status', (e) => events.push(e))
    const err = await c.connect().catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'gave_up' })
    const waits = events.filter((e) => e.status === 'reconnecting').map((e) => [e.attempt, e.delayMs])
    expect(waits).toEqual([
      [1, 5],
      [2, 10],
    ]) // the third failed attempt gives up
    expect(events.at(-1)).toMatchObject({ status: 'closed', reason: 'gave_up' })
  })

  it('retries at once on `online` instead of waiting out the backoff', async () => {
    const port = await deadPort()
    const life = manualLifecycle()
    const c = makeClient(`http://127.0.0.1:${port}/realtime`, { backoff: () => 600_000, lifecycle: life.source })
    const waiting = waitFor((fn: (e: StatusEvent) => void) => c.on('status', fn), (e) => e.status === 'reconnecting')
    const connected = c.connect()
    await waiting
    const s = await startServer({}, port)
    servers.push(s)
    const events: StatusEvent[] = []
    c.on('status', (e) => events.push(e))
    life.fire('online')
    await connected // the backoff was ten minutes: only the `online` retry can have opened it
    expect(events.map((e) => [e.status, e.reason])).toEqual([
      ['connecting', 'network_online'],
      ['open', 'opened'],
    ])
    c.close()
    expect(life.subscribed()).toBe(false) // close() removes the lifecycle listeners
  })

  it('drops the connection on `offline` and comes back on `online`', async () => {
    const s = await startServer()
    servers.push(s)
    const life = manualLifecycle()
    const c = makeClient(s.url, { lifecycle: life.source, backoff: () => 600_000 })
    await c.connect()
    const lost = waitFor((fn: (e: StatusEvent) => void) => c.on('status', fn), (e) => e.status === 'reconnecting')
    life.fire('offline')
    expect((await lost).reason).toBe('network_offline')
    const open = waitFor((fn: (e: StatusEvent) => void) => c.on('status', fn), (e) => e.status === 'open')
    life.fire('online')
    await open
  })

  it('resets the attempt counter once a connection has stayed healthy', async () => {
    const s = await startServer()
    servers.push(s)
    const attempts: number[] = []
    const c = makeClient(s.url, { healthyAfterMs: 50, backoff: (n) => (attempts.push(n), 0) })
    await c.connect()
    for (let i = 0; i < 3; i++) {
      const healthy = Date.now() + 200
      await new Promise((r) => setTimeout(r, Math.max(0, healthy - Date.now()))) // let healthyAfterMs elapse
      const back = waitFor((fn: (e: StatusEvent) => void) => c.on('status', fn), (e) => e.status === 'open')
      for (const conn of s.realtime.connections) conn.close()
      await back
    }
    expect(attempts).toEqual([1, 1, 1])
  })
})
