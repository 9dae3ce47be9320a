/**
 * Orderings the chaos schedule reaches only by luck, forced here with delays.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { StatusEvent } from '../../src'
import { startProxy, type TestProxy } from '../support/proxy'
import { closeClients, makeClient, startServer, until, waitFor, type TestServer } from '../support/servers'

let servers: TestServer[] = []
let proxies: TestProxy[] = []
afterEach(async () => {
  closeClients()
  await Promise.all(proxies.map((p) => p.close()))
  await Promise.all(servers.map((s) => s.close()))
  servers = []
  proxies = []
})

describe('moving back from SSE to WebSocket', () => {
  it('keeps the session when the replaced SSE stream ends before the probe’s hello arrives', async () => {
    // The server answers the upgrade at once but sends hello only after a slow authenticate(); when it
    // does, it ends the SSE stream (the session moved). The WebSocket path is 100 ms slower than SSE,
    // so the client sees: probe open … SSE stream ended … hello.
    const s = await startServer({
      authenticate: async (req) => {
        if (req.headers.upgrade) await new Promise((r) => setTimeout(r, 300))
        return { id: 'u' }
      },
    })
    servers.push(s)
    const slowWs = await startProxy({ targetPort: s.port, mode: 'refuse', delayMs: 100 })
    proxies.push(slowWs)
    const c = makeClient(s.url, { paths: { websocket: slowWs.url('/realtime') }, wsProbeIntervalMs: 100, token: () => 't' })
    const events: StatusEvent[] = []
    c.on('status', (e) => events.push(e))
    const resets: string[] = []
    c.on('reset', (e) => resets.push(e.reason))
    await c.connect()
    expect(c.transport).toBe('sse')
    const conn = s.realtime.connections[0]!
    void conn.send({ type: 'tick', n: 1 })

    slowWs.mode = 'pass'
    const ticks: number[] = []
    c.onMessage('tick', (m) => ticks.push(m.n))
    await waitFor((fn: (e: StatusEvent) => void) => c.on('status', fn), (e) => e.status === 'open' && e.transport === 'websocket')
    void conn.send({ type: 'tick', n: 2 })
    await until(() => ticks.includes(2))
    expect(resets).toEqual([])
    expect(events.at(-1)).toMatchObject({ status: 'open', transport: 'websocket', reason: 'ws_restored' })
    expect(s.realtime.connections).toEqual([conn]) // the same session, still alive
    expect(conn.transport).toBe('websocket')
  })
})
