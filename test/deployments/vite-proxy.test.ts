/**
 * Vite's dev server `server.proxy` in front of the reference server (the dev-proxy case of
 * issue #13): with `ws: true` browsers and Node get WebSocket; without it the upgrade is not
 * forwarded and clients use SSE + POST; with `changeOrigin: true` Host is rewritten to the target
 * and pages are refused (host_rewritten). Doctor and the client agree in each.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer, type ProxyOptions, type ViteDevServer } from 'vite'
import { afterAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../support/servers'
import { agree, idleAttempts, printTable, row, scheduleBound, type Row } from './agree'

const servers: TestServer[] = []
const vites: ViteDevServer[] = []
const dirs: string[] = []
const rows: Row[] = []
afterAll(async () => {
  printTable('Vite server.proxy (issue #13): client vs doctor', rows)
  await Promise.all(vites.map((v) => v.close()))
  await Promise.all(servers.map((s) => s.close()))
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

async function deploy(proxy: Omit<ProxyOptions, 'target'>): Promise<string> {
  const s = await startServer()
  servers.push(s)
  const root = mkdtempSync(join(tmpdir(), 'surewire-vite-'))
  dirs.push(root)
  const vite = await createServer({
    configFile: false,
    root,
    logLevel: 'silent',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, proxy: { '/realtime': { target: `http://127.0.0.1:${s.port}`, ...proxy } } },
  })
  await vite.listen()
  vites.push(vite)
  return `http://127.0.0.1:${(vite.httpServer!.address() as AddressInfo).port}/realtime`
}

describe.concurrent('Vite dev server proxy', () => {
  it('ws: true → WebSocket for browsers and Node, exit 0', async () => {
    const url = await deploy({ ws: true })
    const browser = await agree(url, 'browser')
    expect([browser.doctor.transport, browser.doctor.cause]).toEqual(['websocket', null])
    const idle = await idleAttempts(url, { origin: new URL(url).origin })
    expect(idle.attempts).toBe(1)
    rows.push(row('Vite proxy, ws: true', 'browser', browser, idle), row('Vite proxy, ws: true', 'node', await agree(url, 'node')))
  })

  it('without ws: the upgrade is not forwarded → SSE + POST for both, exit 0', async () => {
    const url = await deploy({})
    const browser = await agree(url, 'browser', { doctor: { timeoutMs: 3_000 } })
    expect(browser.doctor.transport).toBe('sse')
    const idle = await idleAttempts(url, { origin: new URL(url).origin })
    expect(idle.attempts).toBeLessThanOrEqual(scheduleBound())
    rows.push(row('Vite proxy, no ws', 'browser', browser, idle))
  })

  it('changeOrigin: true → Host rewritten: host_rewritten, exit 1, as the browser-like client; Node works', async () => {
    const url = await deploy({ ws: true, changeOrigin: true })
    const browser = await agree(url, 'browser')
    expect(browser.doctor.cause).toBe('host_rewritten')
    const node = await agree(url, 'node')
    expect(node.doctor.transport).toBe('websocket')
    const idle = await idleAttempts(url, { origin: new URL(url).origin })
    expect(idle.attempts).toBeLessThanOrEqual(scheduleBound())
    rows.push(row('Vite proxy, changeOrigin', 'browser', browser, idle), row('Vite proxy, changeOrigin', 'node', node))
  })
})
