/**
 * `surewire doctor` against every nginx config of the e2e suite: the verdict (which
 * transport, exit code) and the named cause must be right in each case. Plus the CLI
 * itself (spawned: exit codes, --json, plain output) and the fix snippets it prints
 * staying identical to the configs the tests run.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { runDoctor, type DoctorReport } from '../../src/cli/doctor'
import { nginxLocation, npmAdvanced } from '../../src/cli/fixes'
import { startServer, type TestServer } from '../support/servers'
import { renderConfig, startNginx, type Nginx, type NginxConfig } from './nginx'

let servers: TestServer[] = []
let proxies: Nginx[] = []
afterEach(async () => {
  await Promise.all(proxies.map((p) => p.stop()))
  await Promise.all(servers.map((s) => s.close()))
  servers = []
  proxies = []
})

async function deploy(config: NginxConfig, serverOptions: Parameters<typeof startServer>[0] = {}) {
  const s = await startServer(serverOptions)
  servers.push(s)
  const n = await startNginx(config, s.port)
  proxies.push(n)
  return { s, n }
}

const causes = (r: DoctorReport) => r.findings.map((f) => f.cause)
const probe = (r: DoctorReport, name: string) => r.probes.find((p) => p.name === name)!

describe('surewire doctor behind nginx', () => {
  it('case 1 (recommended config): WebSocket, nothing to fix, exit 0', async () => {
    const { n } = await deploy('good')
    const r = await runDoctor(n.url('/realtime'), { timeoutMs: 5_000 })
    expect(r.transport).toBe('websocket')
    expect(r.ok).toBe(true)
    expect(r.cause).toBeNull()
    expect(r.findings).toEqual([])
    expect(probe(r, 'websocket').detail).toMatch(/101 Switching Protocols \(Server: nginx/)
    expect(probe(r, 'ws-hello').detail).toMatch(/ping → pong/)
    expect(probe(r, 'sse').detail).toMatch(/live/)
    expect(probe(r, 'post').ok).toBe(true)
  })

  it('case 1 (NPM Advanced tab): WebSocket, exit 0', async () => {
    const { n } = await deploy('npm-advanced')
    const r = await runDoctor(n.url('/realtime'))
    expect([r.transport, r.ok, r.cause]).toEqual(['websocket', true, null])
  })

  it('case 2 (no Upgrade headers): SSE + POST, cause upgrade_headers_dropped naming nginx, exit 0', async () => {
    const { n } = await deploy('no-upgrade')
    const r = await runDoctor(n.url('/realtime'))
    expect(r.transport).toBe('sse')
    expect(r.ok).toBe(true)
    expect(r.cause).toBe('upgrade_headers_dropped')
    const f = r.findings[0]!
    expect(f.severity).toBe('warn')
    expect(f.message).toMatch(/reached the surewire server without its Upgrade header \(it answered 426( upgrade_headers_dropped)?\): a proxy in front \(nginx\) does not forward/)
    expect(f.fixes.map((x) => x.where).join(' | ')).toMatch(/^nginx \| Nginx Proxy Manager.*Advanced tab/)
    expect(f.fixes[0]!.snippet).toContain('proxy_set_header Upgrade $http_upgrade;')
    expect(probe(r, 'websocket').detail).toMatch(/426 Upgrade Required (\(upgrade_headers_dropped\) )?\(Server: nginx\/[\d.]+\) instead of 101/)
  })

  it('case 3 (buffered SSE, no upgrade): no transport, cause sse_buffered, exit 1', async () => {
    const { n } = await deploy('buffered')
    const r = await runDoctor(n.url('/realtime'), { timeoutMs: 2_500 })
    expect(r.transport).toBeNull()
    expect(r.ok).toBe(false)
    expect(r.cause).toBe('sse_buffered')
    expect(causes(r)).toEqual(['sse_buffered', 'upgrade_headers_dropped'])
    expect(r.findings[0]!.message).toMatch(/no response at all within 2500 ms, while the same server answered the WebSocket handshake/)
    expect(r.findings[0]!.fixes[0]!.snippet).toContain('proxy_buffering off;')
  })

  it('case 4 (proxy_read_timeout 5s): WebSocket works; --idle finds the cut; warns when the heartbeat is above it, not when below', async () => {
    const slow = await deploy('read-timeout', { heartbeatIntervalMs: 15_000 })
    const fast = await deploy('read-timeout', { heartbeatIntervalMs: 2_000 })
    const [r, ok] = await Promise.all([runDoctor(slow.n.url('/realtime'), { idleMs: 8_000 }), runDoctor(fast.n.url('/realtime'), { idleMs: 8_000 })])
    expect([r.transport, r.ok, r.cause]).toEqual(['websocket', true, 'proxy_idle_timeout'])
    const f = r.findings[0]!
    expect(f.severity).toBe('warn')
    const cut = probe(r, 'idle').ms!
    expect(cut).toBeGreaterThan(3_000)
    expect(cut).toBeLessThan(8_000)
    expect(f.message).toMatch(/heartbeat is 15000 ms, so clients will be cut/)
    // With a heartbeat under the cut the same finding is only informational.
    expect([ok.transport, ok.ok, ok.cause]).toEqual(['websocket', true, null])
    expect(ok.findings.map((x) => [x.cause, x.severity])).toEqual([['proxy_idle_timeout', 'info']])
  })

  it('case 5 (location does not match the path): no transport, cause path_not_routed, exit 1', async () => {
    const { n } = await deploy('wrong-path')
    const r = await runDoctor(n.url('/realtime'))
    expect([r.transport, r.ok, r.cause]).toEqual([null, false, 'path_not_routed'])
    expect(r.findings[0]!.message).toMatch(/\/realtime answered 404 \(Server: nginx\/[\d.]+\) for both WebSocket and SSE/)
    // Pointed at the path nginx does proxy, the same deployment works.
    const fixed = await runDoctor(n.url('/api/'), { paths: { websocket: '/api/', sse: '/api/' } })
    expect(fixed.findings.find((x) => x.cause === 'path_not_routed')).toBeUndefined()
  })

  it('checks the page origin: CORS refused, CORS allowed, and ws:// from an https page', async () => {
    const { n } = await deploy('good', { allowedOrigins: ['http://app.example'] })
    const allowed = await runDoctor(n.url('/realtime'), { origin: 'http://app.example' })
    expect([allowed.transport, allowed.ok, allowed.cause]).toEqual(['websocket', true, null])
    expect(probe(allowed, 'cors').ok).toBe(true)
    const refused = await runDoctor(n.url('/realtime'), { origin: 'http://evil.example' })
    expect(refused.ok).toBe(false)
    expect(refused.cause).toBe('cors_missing')
    const mixed = await runDoctor(n.url('/realtime'), { origin: 'https://app.example' })
    expect(mixed.ok).toBe(false)
    expect(causes(mixed)).toContain('mixed_content')
  })

  it('reports a closed port and an unresolvable host without throwing', async () => {
    const { n } = await deploy('good')
    const port = n.port
    await n.stop()
    proxies = proxies.filter((p) => p !== n)
    const closed = await runDoctor(`http://127.0.0.1:${port}/realtime`)
    expect([closed.transport, closed.ok, closed.cause]).toEqual([null, false, 'tcp_failed'])
    const nx = await runDoctor('http://surewire-doctor-test.invalid/realtime', { timeoutMs: 3_000 })
    expect([nx.ok, nx.cause]).toEqual([false, 'dns_failed'])
  })
})

/** Run the real CLI entry (TypeScript through tsx, as `npx surewire` runs the built file). */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], { env: { ...process.env, NO_COLOR: '1' } })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    p.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('surewire CLI', () => {
  it('exit 0 and a readable report for case 2; --json for machines; exit 1 for case 5; exit 2 on misuse', async () => {
    const two = await deploy('no-upgrade')
    const five = await deploy('wrong-path')
    const [human, json, broken, usage, coloured] = await Promise.all([
      cli(['doctor', two.n.url('/realtime')]),
      cli(['doctor', two.n.url('/realtime'), '--json']),
      cli(['doctor', five.n.url('/realtime'), '--json']),
      cli(['doctor']),
      cli(['doctor', two.n.url('/realtime'), '--color']),
    ])
    console.log(`doctor output for nginx case 2 (no Upgrade headers):\n${human.stdout}`)
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/Verdict: Clients will use SSE \+ POST/)
    expect(human.stdout).toMatch(/warn upgrade_headers_dropped/)
    expect(human.stdout).not.toMatch(/\u001b\[/) // no colour when not a terminal
    expect(json.code).toBe(0)
    const report = JSON.parse(json.stdout) as DoctorReport
    expect([report.transport, report.cause]).toEqual(['sse', 'upgrade_headers_dropped'])
    expect(broken.code).toBe(1)
    expect((JSON.parse(broken.stdout) as DoctorReport).cause).toBe('path_not_routed')
    expect(coloured.stdout).toContain('\u001b[32m✓\u001b[39m') // what a terminal gets
    expect(coloured.stdout).toContain('\u001b[33mwarn\u001b[39m')
    expect(usage.code).toBe(2)
    expect(usage.stderr).toMatch(/doctor needs a URL/)
  })
})

describe('fix snippets and docs stay identical to the tested configs', () => {
  const lines = (s: string) =>
    s
      .split('\n')
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean)
  const vars = { listen: '80', upstream: '127.0.0.1:3000' }

  it('doctor prints the directives of good.conf and npm-advanced.conf', () => {
    const good = lines(renderConfig('good', vars))
    for (const l of lines(nginxLocation('/realtime'))) expect(good).toContain(l)
    const npm = lines(renderConfig('npm-advanced', vars))
    for (const l of lines(npmAdvanced('/realtime'))) expect(npm).toContain(l)
  })

  it('docs/DEPLOYMENT.md shows every config exactly as the tests run it', () => {
    const doc = readFileSync('docs/DEPLOYMENT.md', 'utf8')
    for (const name of ['good', 'npm-advanced', 'no-upgrade', 'buffered', 'read-timeout', 'wrong-path', 'host-rewrite', 'round-robin'] as const) {
      expect(doc, `${name}.conf is not in docs/DEPLOYMENT.md`).toContain(renderConfig(name, vars).trim())
    }
  })
})
