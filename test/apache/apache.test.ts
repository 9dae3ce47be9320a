/**
 * Real Apache httpd (mod_proxy, mod_proxy_http, mod_proxy_wstunnel, mod_deflate) in front of the
 * reference server, with the configs of test/apache/conf (the ones docs/DEPLOYMENT.md shows).
 * For each: the Node client (browser-like with Origin, and plain) reaches the transport it
 * should, doctor's verdict, cause and exit code agree with it, and 20 s of idle stay within the
 * backoff schedule.
 */
import { readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { apacheVhost } from '../../src/cli/fixes'
import { agree, clientOutcome, idleAttempts, printTable, row, scheduleBound, type Row } from '../deployments/agree'
import { startServer, type TestServer } from '../support/servers'
import { renderConfig, startApache, type Apache, type ApacheConfig } from './apache'

const servers: TestServer[] = []
const daemons: Apache[] = []
const rows: Row[] = []
afterAll(async () => {
  printTable('Apache httpd (issue #13): client vs doctor', rows)
  await Promise.all(daemons.map((d) => d.stop()))
  await Promise.all(servers.map((s) => s.close()))
})

async function deploy(config: ApacheConfig): Promise<string> {
  const s = await startServer()
  servers.push(s)
  const a = await startApache(config, s.port)
  daemons.push(a)
  return a.url('/realtime')
}

describe.concurrent('Apache httpd in front of the reference server', () => {
  it('recommended (ProxyPreserveHost On, upgrade=websocket, mod_deflate): WebSocket; SSE compressed but live; exit 0', async () => {
    const url = await deploy('good')
    const browser = await agree(url, 'browser')
    expect([browser.doctor.transport, browser.doctor.cause, browser.doctor.proxy.kind]).toEqual(['websocket', null, 'apache'])
    expect(browser.doctor.sseEncoding).toBe('gzip')
    expect(browser.doctor.findings.map((f) => f.cause)).toContain('sse_compressed')
    const node = await agree(url, 'node')
    // Through mod_deflate, a client on SSE + POST still gets its echo.
    const sse = await clientOutcome(url, { transports: ['sse'], origin: new URL(url).origin })
    expect(sse.transport).toBe('sse')
    const idle = await idleAttempts(url, { origin: new URL(url).origin })
    expect(idle.attempts).toBe(1)
    rows.push(row('Apache recommended', 'browser', browser, idle), row('Apache recommended', 'node', node), row('Apache recommended', 'node, sse only', { doctor: browser.doctor, client: sse }))
  })

  it('without ProxyPreserveHost: doctor names host_rewritten with `ProxyPreserveHost On`, exit 1, as the browser-like client fails; plain Node works', async () => {
    const url = await deploy('no-preserve-host')
    const browser = await agree(url, 'browser')
    expect(browser.doctor.cause).toBe('host_rewritten')
    expect(browser.doctor.findings[0]!.fixes[0]!.snippet).toBe('ProxyPreserveHost On')
    expect(browser.client.closed?.code).toBe('origin_not_allowed')
    const node = await agree(url, 'node')
    expect(node.doctor.transport).toBe('websocket')
    const idle = await idleAttempts(url, { origin: new URL(url).origin })
    expect(idle.attempts).toBeLessThanOrEqual(scheduleBound())
    rows.push(row('Apache without ProxyPreserveHost', 'browser', browser, idle), row('Apache without ProxyPreserveHost', 'node', node))
  })

  it('without upgrade=websocket: SSE + POST, cause upgrade_headers_dropped with the Apache fix, exit 0', async () => {
    const url = await deploy('no-upgrade')
    const browser = await agree(url, 'browser')
    expect([browser.doctor.transport, browser.doctor.cause]).toEqual(['sse', 'upgrade_headers_dropped'])
    expect(browser.client.openReason).toBe('ws_refused')
    const fixes = browser.doctor.findings[0]!.fixes
    expect(fixes.map((f) => f.where).join(' | ')).toMatch(/^Apache httpd/)
    expect(fixes[0]!.snippet).toContain('upgrade=websocket')
    const idle = await idleAttempts(url, { origin: new URL(url).origin })
    expect(idle.attempts).toBe(1)
    rows.push(row('Apache without upgrade=websocket', 'browser', browser, idle))
  })
})

describe('Apache fix snippets and docs stay identical to the tested configs', () => {
  const lines = (s: string) =>
    s
      .split('\n')
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean)
  const vars = { listen: '*:80', upstream: '127.0.0.1:3000' }

  it('doctor prints the directives of good.conf', () => {
    const good = lines(renderConfig('good', vars))
    for (const l of lines(apacheVhost('/realtime'))) expect(good).toContain(l)
  })

  it('docs/DEPLOYMENT.md shows every Apache config exactly as the tests run it', () => {
    const doc = readFileSync('docs/DEPLOYMENT.md', 'utf8')
    for (const name of ['good', 'no-preserve-host', 'no-upgrade'] as const) {
      expect(doc, `apache ${name}.conf is not in docs/DEPLOYMENT.md`).toContain(renderConfig(name, vars).trim())
    }
  })
})
