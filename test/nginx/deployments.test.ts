/**
 * nginx setups from issue #13 and #9 item 7, each checked as a property: doctor's verdict and
 * exit code equal what the Node client does (browser-like with Origin, and plain Node without),
 * and no client loops faster than the backoff schedule over 20 s of idle.
 * - `host-rewrite`: the recommended config with `Host $host` on a non-default port (the port is
 *   dropped, so pages are refused on Origin) vs `good` with `$http_host`;
 * - `round-robin`: two reference-server processes behind the default upstream, no shared broker.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { runDoctor } from '../../src/cli/doctor'
import { agree, clientOutcome, idleAttempts, printTable, row, scheduleBound, type Row } from '../deployments/agree'
import { startServerProcess, type ServerProcess } from '../deployments/processes'
import { startServer, type TestServer } from '../support/servers'
import { startNginx, type Nginx, type NginxConfig } from './nginx'

const servers: TestServer[] = []
const procs: ServerProcess[] = []
const proxies: Nginx[] = []
const rows: Row[] = []
afterAll(async () => {
  printTable('nginx deployments (issue #13 / #9): client vs doctor', rows)
  await Promise.all(proxies.map((p) => p.stop()))
  await Promise.all([...servers.map((s) => s.close()), ...procs.map((p) => p.stop())])
})

async function deploy(config: NginxConfig): Promise<Nginx> {
  const s = await startServer()
  servers.push(s)
  const n = await startNginx(config, s.port)
  proxies.push(n)
  return n
}

describe('nginx on a non-default port: Host $host vs $http_host', () => {
  it('Host $host: doctor names host_rewritten with the nginx fix, exit 1, as the browser-like client fails; plain Node works on both sides', async () => {
    const n = await deploy('host-rewrite')
    const url = n.url('/realtime')
    const browser = await agree(url, 'browser')
    expect(browser.doctor.cause).toBe('host_rewritten')
    expect(browser.doctor.proxy.kind).toBe('nginx')
    const f = browser.doctor.findings[0]!
    expect(f.fixes[0]!.snippet).toBe('proxy_set_header Host $http_host;')
    expect(f.fixes.map((x) => x.snippet).join('\n')).toContain('trustForwardedHost: true')
    // The client stops and says why instead of looping (C2: fatal origin_not_allowed).
    expect(browser.client.closed?.code).toBe('origin_not_allowed')
    const node = await agree(url, 'node')
    expect(node.doctor.transport).toBe('websocket')
    const [idle] = await Promise.all([idleAttempts(url, { origin: new URL(url).origin })])
    expect(idle.attempts).toBeLessThanOrEqual(scheduleBound())
    rows.push(row('nginx :port, Host $host', 'browser', browser, idle), row('nginx :port, Host $host', 'node', node))
  })

  it('Host $http_host: WebSocket for browsers and Node, nothing to fix, exit 0', async () => {
    const n = await deploy('good')
    const url = n.url('/realtime')
    const browser = await agree(url, 'browser')
    expect([browser.doctor.transport, browser.doctor.cause]).toEqual(['websocket', null])
    expect(browser.client.openReason).toBe('opened')
    const node = await agree(url, 'node')
    expect(node.doctor.transport).toBe('websocket')
    const idle = await idleAttempts(url, { origin: new URL(url).origin })
    expect(idle.attempts).toBe(1)
    rows.push(row('nginx :port, Host $http_host', 'browser', browser, idle), row('nginx :port, Host $http_host', 'node', node))
  })

  it('no Upgrade headers: SSE + POST for both, cause upgrade_headers_dropped, exit 0', async () => {
    const n = await deploy('no-upgrade')
    const url = n.url('/realtime')
    const browser = await agree(url, 'browser')
    expect([browser.doctor.transport, browser.doctor.cause]).toEqual(['sse', 'upgrade_headers_dropped'])
    expect(browser.client.openReason).toBe('ws_refused')
    const idle = await idleAttempts(url, { origin: new URL(url).origin })
    expect(idle.attempts).toBe(1)
    rows.push(row('nginx, no Upgrade headers', 'browser', browser, idle))
  })
})

describe('two server processes behind round-robin, no shared broker (issue #9 item 7)', () => {
  it('doctor names session_unknown (SSE + POST will fail) with the broker and sticky fixes; WebSocket still works, as for the client', async () => {
    const [a, b] = await Promise.all([startServerProcess(), startServerProcess()])
    procs.push(a, b)
    const n = await startNginx('round-robin', [a.port, b.port])
    proxies.push(n)
    const url = n.url('/realtime')
    const both = await agree(url, 'browser')
    expect(both.doctor.transport).toBe('websocket')
    const f = both.doctor.findings.find((x) => x.cause === 'session_unknown')!
    expect(f.severity).toBe('warn')
    expect(f.message).toMatch(/^SSE \+ POST will fail/)
    const fixes = f.fixes.map((x) => x.snippet).join('\n')
    expect(fixes).toContain("from 'surewire/redis'")
    expect(fixes).toContain('hash $arg_sid consistent;')
    // The fallback really fails: a client on SSE + POST never gets an echo through.
    const sse = await clientOutcome(url, { transports: ['sse'], boundMs: 8_000 })
    expect(sse.transport).toBeNull()
    rows.push(row('nginx round-robin ×2, no broker', 'browser', both), row('nginx round-robin ×2, no broker', 'node, sse only', { doctor: both.doctor, client: sse }))
    // doctor's verdict for the fallback alone agrees: SSE + POST does not work here.
    const onlySse = await runDoctor(url, { paths: { websocket: '/nowhere' } })
    expect(onlySse.transport).toBeNull()
    expect(onlySse.cause).toBe('session_unknown')
  })
})
