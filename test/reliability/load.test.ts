/**
 * Load and leaks:
 * - a reconnect storm: 500 clients on one reference server, which restarts; attempt
 *   rates (at the clients and at the server) and the time until all are back;
 * - a leak check in a child process: 1,000 connect/close cycles and 1,000 forced
 *   reconnects per transport; heap after GC and listener counts return to baseline,
 *   and the process exits by itself once everything is closed (no timer left).
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { fullJitterBackoff } from '../../src'
import { closeClients, makeClient, startServer, until, type TestServer } from '../support/servers'
import { coreOf } from '../../src/server/core/core'
const sessionsOf = (r: object) => coreOf(r).sessions.sessions

let servers: TestServer[] = []
afterEach(async () => {
  closeClients()
  await Promise.all(servers.map((s) => s.close()))
  servers = []
})

/** Events per 1-second bucket from `start`. */
function perSecond(times: number[], start: number): number[] {
  const buckets: number[] = []
  for (const t of times) {
    const b = Math.floor((t - start) / 1000)
    if (b >= 0) buckets[b] = (buckets[b] ?? 0) + 1
  }
  return Array.from(buckets, (x) => x ?? 0)
}

describe('reconnect storm', () => {
  it('500 clients, server restart (3 s down): full jitter keeps the server-side peak far below the client count', async () => {
    const N = 500
    const DOWN_MS = 3_000 // a process restart takes seconds
    const first = await startServer()
    servers.push(first)
    const port = first.port
    const clients = Array.from({ length: N }, () =>
      // The default policy (full jitter, 500 ms base, 30 s cap); makeClient's instant backoff is for other tests.
      makeClient(first.url, { transports: ['websocket'], backoff: fullJitterBackoff() }),
    )
    const attempts: number[] = []
    let open = 0
    for (const c of clients) {
      c.on('status', (e) => {
        if (e.status === 'connecting') attempts.push(performance.now())
        if (e.status === 'open') open++
        if (e.previous === 'open') open--
      })
    }
    for (let i = 0; i < N; i += 100) await Promise.all(clients.slice(i, i + 100).map((c) => c.connect()))
    expect(open).toBe(N)
    attempts.length = 0

    const down = performance.now()
    await first.close()
    servers = []
    await until(() => open === 0, 10_000, 'every client to notice')
    await new Promise((r) => setTimeout(r, Math.max(0, DOWN_MS - (performance.now() - down)))) // the restart's downtime
    const arrivals: number[] = []
    const second = await startServer({}, port)
    servers.push(second)
    const up = performance.now()
    second.http.on('connection', () => arrivals.push(performance.now()))
    await until(() => open === N, 90_000, `all ${N} clients back (${open} so far)`)
    const allBack = performance.now()

    const clientRate = perSecond(attempts, down)
    const serverRate = perSecond(arrivals, up)
    const peakClient = Math.max(...clientRate)
    const peakServer = Math.max(...serverRate)
    console.log(
      `reconnect storm: ${N} clients, server down ${DOWN_MS} ms\n` +
        `  attempts per second at the clients (from the drop): ${clientRate.join(' ')} (peak ${peakClient}, ${(peakClient / N).toFixed(2)} × clients)\n` +
        `  connections per second at the server (from the restart): ${serverRate.join(' ')} (peak ${peakServer}, ${(peakServer / N).toFixed(2)} × clients)\n` +
        `  all back ${((allBack - up) / 1000).toFixed(1)} s after the restart (${((allBack - down) / 1000).toFixed(1)} s after the drop); ${attempts.length} attempts in all`,
    )
    expect(arrivals.length).toBeGreaterThanOrEqual(N)
    // Full jitter: reconnections reach the restarted server spread over seconds, not all at once.
    expect(peakServer).toBeLessThan(N / 2)
    // Retries against the dead server thin out as the backoff window doubles: the last full second
    // before the restart has far fewer attempts than the first (about a third with full jitter).
    const lastDownSecond = clientRate[Math.floor(DOWN_MS / 1000) - 1]!
    expect(lastDownSecond).toBeLessThan(clientRate[0]! * 0.6)
  }, 150_000)
})

describe('leaks', () => {
  it('1,000 connect/close cycles and 1,000 forced reconnects per transport: heap and listeners return to baseline; the process exits by itself', async () => {
    const s = await startServer()
    servers.push(s)
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(new URL('./fixtures/leak-child.ts', import.meta.url)), s.url, '1000', '1000'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    // Once the child has closed its clients: wait until the server forgot every session (each close()
    // said bye, also through the child's proxy), then let the child close the proxy.
    let sessionsLeft = -1
    child.on('message', () => {
      void until(() => sessionsOf(s.realtime).size === 0, 10_000)
        .catch(() => {})
        .then(() => {
          sessionsLeft = sessionsOf(s.realtime).size
          child.send('drained')
        })
    })
    let out = ''
    let err = ''
    let printedAt = 0
    child.stdout!.on('data', (d: Buffer) => {
      out += d
      if (out.includes('\n') && !printedAt) printedAt = performance.now()
    })
    child.stderr!.on('data', (d: Buffer) => (err += d))
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.on('exit', (code) => resolve({ code, at: performance.now() })))
    const bound = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 90_000).unref())
    const result = await Promise.race([exited, bound])
    if (result === 'hung') {
      child.kill('SIGKILL') // only the child this test started, by its handle
      throw new Error(`the child did not exit by itself:\n${out}\n${err}`)
    }
    expect(result.code, err).toBe(0)
    const exitAfterMs = result.at - printedAt
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
      cycles: number
      cyclesMs: number
      heapBefore: number
      heapAfter: number
      reconnects: number
      reconnectsMs: number
      resumes: { ws: number; sse: number }
      heapBeforeReconnects: number
      heapAfterReconnects: number
      listeners: Record<string, [number, number]>
    }
    const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`
    console.log(
      `leak check: ${r.cycles} connect/close cycles in ${r.cyclesMs} ms, heap ${kb(r.heapBefore)} → ${kb(r.heapAfter)} (${kb(r.heapAfter - r.heapBefore)}); ` +
        `${r.reconnects} forced reconnects per transport in ${r.reconnectsMs} ms, heap ${kb(r.heapBeforeReconnects)} → ${kb(r.heapAfterReconnects)} (${kb(r.heapAfterReconnects - r.heapBeforeReconnects)}); ` +
        `listeners ${JSON.stringify(r.listeners)}; exited ${exitAfterMs.toFixed(0)} ms after closing`,
    )
    // A leaked client, transport or session costs kilobytes per cycle; measured noise is under 1 MB either way.
    expect(r.heapAfter - r.heapBefore).toBeLessThan(2 * 1024 * 1024)
    expect(r.heapAfterReconnects - r.heapBeforeReconnects).toBeLessThan(2 * 1024 * 1024)
    for (const [name, [before, after]] of Object.entries(r.listeners)) expect(after, name).toBeLessThanOrEqual(before)
    expect(r.resumes.ws).toBeGreaterThanOrEqual(r.reconnects) // every reconnect resumed the same session
    expect(r.resumes.sse).toBeGreaterThanOrEqual(r.reconnects)
    expect(exitAfterMs).toBeLessThan(10_000)
    // The server forgot every closed session (each close() said bye).
    expect(sessionsLeft).toBe(0)
  }, 150_000)
})
