/**
 * Chromium on a page served from the proxy's own origin (issue #13): behind nginx with
 * `Host $host` on a non-default port and Apache without ProxyPreserveHost (Host rewritten), and
 * their fixed configs. The page reaches the transport doctor names (same verdict and exit code),
 * and over 20 s the client stays within the backoff schedule: no storm.
 *
 * The page and the client bundle are served by the backend at /realtime/app.html and
 * /realtime/sw-client.js, so they come through the proxy's own /realtime location: the page has
 * the proxy's origin over the network (a page fulfilled by playwright's router counts as public
 * address space, and Chromium's local-network checks then block its WebSocket to 127.0.0.1),
 * and the proxy configs stay exactly the ones the docs show.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRealtimeServer } from '../../src/server'
import { ClientMessage, ServerMessage } from '../support/schemas'
import type { Browser } from 'playwright-core'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runDoctor } from '../../src/cli/doctor'
import { startApache, type Apache, type ApacheConfig } from '../apache/apache'
import { printTable, scheduleBound, type Row } from '../deployments/agree'
import { startNginx, type Nginx, type NginxConfig } from '../nginx/nginx'
import { launchChromium, repoRoot } from './support'

let browser: Browser
let closeBrowser: () => Promise<void>
let bundle: string
const servers: { close(): Promise<void> }[] = []
const daemons: (Nginx | Apache)[] = []
const rows: Row[] = []

beforeAll(async () => {
  const out = await build({
    configFile: false,
    logLevel: 'silent',
    root: repoRoot,
    build: { write: false, minify: false, lib: { entry: 'src/index.ts', formats: ['es'], fileName: 'client' } },
  })
  const first = (Array.isArray(out) ? out[0]! : out) as { output: { type: string; code?: string; isEntry?: boolean }[] }
  bundle = first.output.find((o) => o.type === 'chunk' && o.isEntry)!.code!
  ;({ browser, close: closeBrowser } = await launchChromium())
}, 120_000)

afterAll(async () => {
  printTable('Chromium behind Host-rewriting proxies (issue #13): page vs doctor', rows)
  await closeBrowser?.()
  await Promise.all(daemons.map((d) => d.stop()))
  await Promise.all(servers.map((s) => s.close()))
})

const PAGE = `<!doctype html><meta charset="utf-8"><title>surewire</title>
<script type="module">
import { RealtimeClient } from '/realtime/sw-client.js'
const any = { '~standard': { version: 1, vendor: 'test', validate: (value) => ({ value }) } }
const r = (window.result = { statuses: [], echo: null, error: null })
const t0 = performance.now()
const c = new RealtimeClient({ url: '/realtime', incoming: any, outgoing: any, backoff: (a) => Math.min(30000, 500 * 2 ** Math.max(0, a - 1)) })
c.on('status', (e) => r.statuses.push({ status: e.status, reason: e.reason, transport: e.transport, t: Math.round(performance.now() - t0) }))
c.on('error', (e) => (r.error ??= e.serverCode ?? e.code ?? e.name))
c.on('message', (m) => { if (m.type === 'echo' && !r.echo) r.echo = { transport: c.transport, t: Math.round(performance.now() - t0) } })
c.connect().catch(() => {})
c.send({ type: 'echo', text: 'agree' }).catch(() => {})
</script>`

interface PageResult {
  statuses: { status: string; reason: string; transport: string | null; t: number }[]
  echo: { transport: 'websocket' | 'sse'; t: number } | null
  error: string | null
}

/** Open the page on the proxy's origin, watch it for 20 s, return what the client did. */
async function visit(origin: string): Promise<PageResult> {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(`${origin}/realtime/app.html`)
  await page.waitForTimeout(20_000) // the observation window the storm check needs (a bound, not a wait for a result)
  const result = (await page.evaluate(() => (window as unknown as { result: unknown }).result)) as PageResult
  await context.close()
  return result
}

/** The reference server (echo) plus the page and the bundle under /realtime/. */
async function startPageServer(): Promise<{ port: number; close(): Promise<void> }> {
  const http = createServer((req, res) => {
    if (req.url === '/realtime/app.html') return void res.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE)
    if (req.url === '/realtime/sw-client.js') return void res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(bundle)
    res.writeHead(404).end()
  })
  const realtime = createRealtimeServer({ incoming: ClientMessage, outgoing: ServerMessage })
  realtime.attach(http)
  realtime.on('connection', (conn) => conn.on('message', (m) => m.type === 'echo' && void conn.send({ type: 'echo', text: m.text })))
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
  return {
    port: (http.address() as AddressInfo).port,
    async close() {
      await realtime.close()
      http.closeAllConnections()
      await new Promise<void>((r) => http.close(() => r()))
    },
  }
}

async function deploy(kind: 'nginx', config: NginxConfig): Promise<string>
async function deploy(kind: 'apache', config: ApacheConfig): Promise<string>
async function deploy(kind: 'nginx' | 'apache', config: string): Promise<string> {
  const s = await startPageServer()
  servers.push(s)
  const d = kind === 'nginx' ? await startNginx(config as NginxConfig, s.port) : await startApache(config as ApacheConfig, s.port)
  daemons.push(d)
  return d.url('')
}

describe.concurrent('Chromium and doctor agree behind Host-rewriting proxies', () => {
  it.each([
    ['nginx', 'host-rewrite', 'nginx :port, Host $host', null],
    ['nginx', 'good', 'nginx :port, Host $http_host', 'websocket'],
    ['apache', 'no-preserve-host', 'Apache without ProxyPreserveHost', null],
    ['apache', 'good', 'Apache recommended', 'websocket'],
  ] as const)('%s %s: the page gets %s… as doctor says', async (kind, config, setup, expected) => {
    const origin = await deploy(kind as 'nginx', config as NginxConfig)
    const [doctor, page] = await Promise.all([runDoctor(`${origin}/realtime`), visit(origin)])
    const transport = page.echo?.transport ?? null
    const reconnects = Math.max(0, page.statuses.filter((e) => e.status === 'connecting').length - 1) // every attempt starts with `connecting`
    const why = `page: ${JSON.stringify(page).slice(0, 600)}; doctor: ${doctor.verdict}`
    rows.push({
      setup,
      mode: 'chromium',
      transport: transport ?? 'none',
      reason: transport ? String(page.statuses.find((e) => e.status === 'open')?.reason) : `${page.statuses.at(-1)?.status}: ${page.statuses.at(-1)?.reason} (${page.error})`,
      openMs: String(page.statuses.find((e) => e.status === 'open')?.t ?? '-'),
      attempts20s: `${1 + reconnects}`,
      doctor: `${doctor.transport ?? 'none'} / ${doctor.cause ?? '-'} / exit ${doctor.ok ? 0 : 1}`,
    })
    expect(transport, why).toBe(expected)
    expect(doctor.transport, why).toBe(transport)
    expect(doctor.ok, why).toBe(transport !== null)
    expect(1 + reconnects, why).toBeLessThanOrEqual(scheduleBound())
    if (expected === null) {
      expect(doctor.cause).toBe('host_rewritten')
      expect(page.error, why).toBe('origin_not_allowed') // the refusal is surfaced, not a silent loop
    }
  })
})
