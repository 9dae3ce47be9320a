/**
 * Real HAProxy in front of the reference server: Debian's defaults, the recommended config
 * (`timeout tunnel`), and `timeout client 5s`. The client reaches WebSocket in each; the 5 s cut
 * makes it reconnect within the backoff schedule, and doctor measures the cut and explains it in
 * HAProxy's words (`timeout tunnel` / `timeout client`, not nginx's proxy_read_timeout).
 */
import { readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { haproxyBackend } from '../../src/cli/fixes'
import { agree, idleAttempts, printTable, row, scheduleBound, type Row } from '../deployments/agree'
import { startServer, type TestServer } from '../support/servers'
import { renderConfig, startHaproxy, type Haproxy, type HaproxyConfig } from './haproxy'

const servers: TestServer[] = []
const daemons: Haproxy[] = []
const rows: Row[] = []
afterAll(async () => {
  printTable('HAProxy (issue #13): client vs doctor', rows)
  await Promise.all(daemons.map((d) => d.stop()))
  await Promise.all(servers.map((s) => s.close()))
})

async function deploy(config: HaproxyConfig): Promise<string> {
  const s = await startServer()
  servers.push(s)
  const h = await startHaproxy(config, s.port)
  daemons.push(h)
  return h.url('/realtime')
}

describe.concurrent('HAProxy in front of the reference server', () => {
  it.each<HaproxyConfig>(['debian', 'good'])('%s: WebSocket, recognised as HAProxy, nothing to fix, exit 0, no reconnects', async (config) => {
    const url = await deploy(config)
    const browser = await agree(url, 'browser')
    expect([browser.doctor.transport, browser.doctor.cause, browser.doctor.proxy.kind]).toEqual(['websocket', null, 'haproxy'])
    const node = await agree(url, 'node')
    const idle = await idleAttempts(url, { origin: new URL(url).origin })
    expect(idle.attempts).toBe(1)
    rows.push(row(`HAProxy ${config}`, 'browser', browser, idle), row(`HAProxy ${config}`, 'node', node))
  })

  it('timeout client 5s: WebSocket, cut every ~5 s; doctor --idle names proxy_idle_timeout with timeout tunnel / timeout client; reconnects stay within the schedule', async () => {
    const url = await deploy('client-5s')
    const browser = await agree(url, 'browser', { doctor: { idleMs: 8_000 } })
    expect([browser.doctor.transport, browser.doctor.ok, browser.doctor.cause]).toEqual(['websocket', true, 'proxy_idle_timeout'])
    const f = browser.doctor.findings[0]!
    expect(f.message).toMatch(/^HAProxy closes connections that are quiet for about [45]\.\d s \(HAProxy: timeout tunnel/)
    expect(f.message).not.toMatch(/proxy_read_timeout/)
    expect(f.fixes[0]!.snippet).toContain('timeout tunnel 1h')
    expect(f.fixes[0]!.snippet).toContain('timeout client 1h')
    const idle = await idleAttempts(url, { origin: new URL(url).origin })
    expect(idle.attempts).toBeGreaterThan(1) // the cut is real
    expect(idle.attempts).toBeLessThanOrEqual(scheduleBound())
    rows.push(row('HAProxy timeout client 5s', 'browser', browser, idle))
  })
})

describe('HAProxy fix snippets and docs stay identical to the tested configs', () => {
  const lines = (s: string) =>
    s
      .split('\n')
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean)
  const vars = { listen: '*:80', upstream: '127.0.0.1:3000' }
  it('doctor prints lines of good.cfg', () => {
    const good = lines(renderConfig('good', vars))
    for (const l of lines(haproxyBackend())) expect(good).toContain(l)
  })
  it('docs/DEPLOYMENT.md shows every HAProxy config exactly as the tests run it', () => {
    const doc = readFileSync('docs/DEPLOYMENT.md', 'utf8')
    for (const name of ['debian', 'good', 'client-5s'] as const) expect(doc, `haproxy ${name}.cfg is not in docs/DEPLOYMENT.md`).toContain(renderConfig(name, vars).trim())
  })
})
