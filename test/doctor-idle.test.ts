/**
 * doctor --idle reports how long the WebSocket was quiet when a proxy cut it, counted from its last
 * message (the pong), not from when the idle probe started: the SSE and POST probes run in between
 * on other connections, and the proxy's idle timer started at the pong. A socket cut while those
 * probes ran is reported as cut (it was reported "still open" after the whole wait).
 * The proxy is a TCP relay on 127.0.0.1 that cuts a connection quiet for `cutMs` (as HAProxy's
 * `timeout client`) and holds the first request of each plain HTTP connection `holdMs` (a slow
 * path, so the probes between the pong and the idle probe take a known while).
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import { afterEach, expect, it } from 'vitest'
import { runDoctor } from '../src/cli/doctor'
import { startServer, type TestServer } from './support/servers'

let proxy: Server | undefined
let backend: TestServer | undefined
const sockets = new Set<Socket>()
afterEach(async () => {
  for (const s of sockets) s.destroy()
  sockets.clear()
  await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()))
  await backend?.close()
  proxy = backend = undefined
})

async function idleCuttingProxy(targetPort: number, cutMs: number, holdMs: number): Promise<number> {
  proxy = createServer((client) => {
    sockets.add(client)
    client.setTimeout(cutMs, () => client.destroy()) // no byte either way for cutMs: cut
    client.once('data', (first) => {
      client.pause()
      const upgrade = /^upgrade: *websocket/im.test(first.toString('latin1'))
      setTimeout(() => {
        const up = connect(targetPort, '127.0.0.1', () => {
          up.write(first)
          client.pipe(up).pipe(client)
          client.resume()
        })
        sockets.add(up)
        const end = () => (client.destroy(), up.destroy())
        up.on('error', end).on('close', end)
        client.on('error', end).on('close', end)
      }, upgrade ? 0 : holdMs)
    })
  })
  await new Promise<void>((r) => proxy!.listen(0, '127.0.0.1', r))
  return (proxy.address() as { port: number }).port
}

async function doctorBehind(cutMs: number, holdMs: number) {
  backend = await startServer({ heartbeatIntervalMs: 30_000 })
  const port = await idleCuttingProxy(Number(new URL(backend.url).port), cutMs, holdMs)
  const r = await runDoctor(`http://127.0.0.1:${port}/realtime`, { idleMs: 10_000 })
  const between = r.probes.filter((p) => p.name === 'sse' || p.name === 'post').reduce((sum, p) => sum + (p.ms ?? 0), 0)
  const idle = r.probes.find((p) => p.name === 'idle')!
  const wsCut = Number(/idle WebSocket cut after (\d+) ms/.exec(idle.detail)?.[1] ?? NaN)
  return { r, idle, wsCut, between }
}

// Counted from the idle probe's start, the first came out at 3 s minus the SSE and POST probes (each
// held 250 ms at least); the second read "still open" after the whole wait.
const cases = [
  { title: 'cut after the idle probe started: counted from the pong (the probes in between included)', cutMs: 3_000, holdMs: 250, minBetween: 500, about: /quiet for about [23]\.\d s/ },
  { title: 'cut while the other probes ran: reported as cut, after about cutMs (not "still open")', cutMs: 1_500, holdMs: 700, minBetween: 1_500, about: /quiet for about [12]\.\d s/ },
] as const
for (const c of cases) {
  it(`--idle: ${c.title}`, async () => {
    const { r, idle, wsCut, between } = await doctorBehind(c.cutMs, c.holdMs)
    expect(r.transport).toBe('websocket')
    expect(between, 'how long the probes between took').toBeGreaterThanOrEqual(c.minBetween)
    expect(wsCut, idle.detail).toBeGreaterThanOrEqual(c.cutMs - 300)
    expect(wsCut, idle.detail).toBeLessThan(10_000)
    expect(r.findings.find((f) => f.cause === 'proxy_idle_timeout')?.message).toMatch(c.about)
  })
}

it('--idle: the server closing a quiet WebSocket itself (4408 at 3 × hb: the probe never pings) is said so, not taken for a proxy', async () => {
  backend = await startServer({ heartbeatIntervalMs: 1_000 })
  const r = await runDoctor(backend.url, { idleMs: 6_000 })
  expect(r.transport).toBe('websocket')
  const idle = r.probes.find((p) => p.name === 'idle')!
  expect(idle.detail).toMatch(/idle WebSocket closed by the server after \d+ ms \(close 4408: no ping/)
  expect(idle.detail).toMatch(/SSE still open after 6000 ms/) // the server's hb events keep it busy
  expect(idle.ok).toBe(true)
  expect(r.findings.map((f) => f.cause)).not.toContain('proxy_idle_timeout')
})

