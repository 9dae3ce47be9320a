/**
 * End-to-end behind real nginx: one config per real-world deployment (test/nginx/conf,
 * the same text as docs/DEPLOYMENT.md), the reference server behind it, the client in
 * front. Every case measures time-to-connected and counts reconnects; the table is
 * printed at the end. Timings are reported, never asserted beyond generous bounds.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { StatusEvent, StatusReason, TransportKind } from '../../src'
import type { ServerMessage } from '../support/schemas'
import { closeClients, makeClient, startServer, waitFor, type TestServer } from '../support/servers'
import { startNginx, type Nginx, type NginxConfig } from './nginx'

let servers: TestServer[] = []
let proxies: Nginx[] = []
afterEach(async () => {
  closeClients()
  await Promise.all(proxies.map((p) => p.stop()))
  await Promise.all(servers.map((s) => s.close()))
  servers = []
  proxies = []
})

interface Row {
  case: string
  config: NginxConfig
  client: string
  transport: TransportKind | '-'
  reason: StatusReason | '-'
  connectedMs: number | '-'
  reconnects: number
  /** Reasons of the `reconnecting` events, deduplicated. */
  why: string
  windowMs: number
}
const rows: Row[] = []
afterAll(() => {
  const header = ['case', 'config', 'client', 'transport', 'reason', 'connected ms', 'reconnects', 'reconnect reasons', 'window ms']
  const lines = rows.map((r) => [r.case, r.config, r.client, r.transport, r.reason, String(r.connectedMs), String(r.reconnects), r.why, String(r.windowMs)])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const fmt = (l: string[]) => l.map((c, i) => c.padEnd(widths[i]!)).join('  ')
  console.log(['nginx e2e: time-to-connected and reconnects per case', fmt(header), ...lines.map(fmt)].join('\n'))
})

async function deploy(config: NginxConfig, serverOptions: Parameters<typeof startServer>[0] = {}) {
  const s = await startServer(serverOptions)
  servers.push(s)
  const n = await startNginx(config, s.port)
  proxies.push(n)
  return { s, n }
}

type Client = ReturnType<typeof makeClient>

/** Watch a client from before connect(): status events, errors, time to the first `open`. */
function watch(c: Client) {
  const start = performance.now()
  const events: StatusEvent[] = []
  const errors: Error[] = []
  let connectedMs: number | undefined
  let firstOpen: StatusEvent | undefined
  c.on('status', (e) => {
    events.push(e)
    if (e.status === 'open' && connectedMs === undefined) {
      connectedMs = Math.round(performance.now() - start)
      firstOpen = e
    }
  })
  c.on('error', (e) => errors.push(e))
  return {
    events,
    errors,
    reconnects: () => events.filter((e) => e.status === 'reconnecting').length,
    get connectedMs() {
      return connectedMs
    },
    get firstOpen() {
      return firstOpen
    },
    row(caseName: string, config: NginxConfig, client: string): Row {
      return {
        case: caseName,
        config,
        client,
        transport: firstOpen?.transport ?? '-',
        reason: firstOpen?.reason ?? events.find((e) => e.status === 'reconnecting')?.reason ?? '-',
        connectedMs: connectedMs ?? '-',
        reconnects: events.filter((e) => e.status === 'reconnecting').length,
        why: [...new Set(events.filter((e) => e.status === 'reconnecting').map((e) => e.reason))].join(', ') || '-',
        windowMs: Math.round(performance.now() - start),
      }
    },
  }
}

const messagesOf = (c: Client) => (fn: (m: ServerMessage) => void) => c.on('message', fn)
const statusOf = (c: Client) => (fn: (e: StatusEvent) => void) => c.on('status', fn)

/** Client → server → client (echo) and server → client (broadcast), both through nginx. */
async function roundTrip(s: TestServer, c: Client, tag: string): Promise<void> {
  const echoed = waitFor(messagesOf(c), (m) => m.type === 'echo' && m.text === tag, 15_000, `echo ${tag}`)
  await c.send({ type: 'echo', text: tag })
  await echoed
  const n = Math.floor(Math.random() * 1e6)
  const pushed = waitFor(messagesOf(c), (m) => m.type === 'tick' && m.n === n, 15_000, `tick ${n}`)
  void s.realtime.broadcast({ type: 'tick', n })
  await pushed
}

/** Let `ms` pass while real traffic flows (a bounded observation window, not a sleep-and-hope). */
const observe = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('nginx in front of the reference server', () => {
  it.each<[string, NginxConfig]>([
    ['1 recommended', 'good'],
    ['1 NPM advanced', 'npm-advanced'],
  ])('case %s: WebSocket upgrades pass → WebSocket, messages both ways', async (name, config) => {
    const { s, n } = await deploy(config)
    const c = makeClient(n.url('/realtime'))
    const w = watch(c)
    await c.connect()
    expect(c.transport).toBe('websocket')
    expect(w.firstOpen?.reason).toBe('opened')
    await roundTrip(s, c, `hello-${config}`)
    expect(w.reconnects()).toBe(0)
    expect(w.connectedMs).toBeLessThan(10_000)
    rows.push(w.row(name, config, 'default'))
  })

  it('case 1 recommended: SSE is live through the same location (hello at once, POST works)', async () => {
    const { s, n } = await deploy('good')
    const c = makeClient(n.url('/realtime'), { transports: ['sse'] })
    const w = watch(c)
    await c.connect()
    expect(c.transport).toBe('sse')
    await roundTrip(s, c, 'sse-through-good')
    expect(w.reconnects()).toBe(0)
    rows.push(w.row('1 recommended', 'good', "transports ['sse']"))
  })

  it('case 2: no Upgrade/Connection headers → falls back to SSE + POST and works', async () => {
    const { s, n } = await deploy('no-upgrade')
    const c = makeClient(n.url('/realtime'))
    const w = watch(c)
    await c.connect()
    expect(c.transport).toBe('sse')
    expect(w.firstOpen?.reason).toBe('ws_refused') // nginx passed the backend's 426 back
    await roundTrip(s, c, 'over-sse')
    for (let i = 0; i < 20; i++) await c.send({ type: 'count', n: i }) // serialized POSTs through nginx
    await roundTrip(s, c, 'after-posts')
    expect(w.reconnects()).toBe(0)
    expect(w.connectedMs).toBeLessThan(10_000)
    rows.push(w.row('2 no upgrade', 'no-upgrade', 'default'))
  })

  it('case 3: buffered SSE (and no upgrade) → never reports open; retries with reason sse_buffered and an error naming proxy_buffering', async () => {
    const { n } = await deploy('buffered')
    const c = makeClient(n.url('/realtime'), { connectTimeoutMs: 2_000, backoff: () => 200 })
    const w = watch(c)
    void c.connect().catch(() => {})
    for (let i = 0; i < 2; i++) {
      const e = await waitFor(statusOf(c), (e) => e.status === 'reconnecting', 20_000, `reconnect ${i + 1}`)
      expect(e.reason).toBe('sse_buffered')
      expect(e.detail).toMatch(/buffering/)
    }
    expect(w.events.some((e) => e.status === 'open')).toBe(false)
    expect(c.status).not.toBe('open')
    // It tried WebSocket first each time (refused: 426 through nginx), then SSE — never blaming WebSocket memory for SSE's silence.
    expect(w.events.filter((e) => e.status === 'connecting').length).toBeGreaterThanOrEqual(2)
    const err = w.errors.find((e) => /proxy_buffering off/.test(e.message))
    expect(err?.message).toMatch(/SSE request got no response but no event within connectTimeoutMs=2000/)
    rows.push(w.row('3 buffered SSE', 'buffered', 'connectTimeoutMs 2000'))
  })

  it('case 4: proxy_read_timeout 5s — keepalive under it stays up for 3 periods; without keepalive it is cut and reconnects', async () => {
    const windowMs = 16_000
    // WebSocket: the client's ping (1.5 s) makes the backend answer, which is what nginx's read timeout watches.
    const ws = await deploy('read-timeout')
    const pinging = makeClient(ws.n.url('/realtime'), { pingIntervalMs: 1_500 })
    const silent = makeClient(ws.n.url('/realtime'), { pingIntervalMs: 0 })
    // SSE: the server's heartbeat is what keeps the stream busy; one server under the timeout, one over it.
    const hbFast = await deploy('read-timeout', { heartbeatIntervalMs: 1_500 })
    const hbSlow = await deploy('read-timeout', { heartbeatIntervalMs: 15_000 })
    // Its own silence verdict far off (default 2.5 × 1.5 s: a stalled test process could fire it first): nginx's 5 s cut is what is watched.
    const sseFast = makeClient(hbFast.n.url('/realtime'), { transports: ['sse'], sseSilenceTimeoutMs: 10_000 })
    const sseSlow = makeClient(hbSlow.n.url('/realtime'), { transports: ['sse'] })
    const all = [
      { c: pinging, w: watch(pinging), s: ws.s, label: 'ws, pingIntervalMs 1500' },
      { c: silent, w: watch(silent), s: ws.s, label: 'ws, pingIntervalMs 0 (off)' },
      { c: sseFast, w: watch(sseFast), s: hbFast.s, label: 'sse, server hb 1500' },
      { c: sseSlow, w: watch(sseSlow), s: hbSlow.s, label: 'sse, server hb 15000' },
    ]
    await Promise.all(all.map((x) => x.c.connect()))
    await observe(windowMs)
    // Kept alive: no reconnect in more than three timeout periods, and still working.
    expect(all[0]!.w.reconnects()).toBe(0)
    expect(all[2]!.w.reconnects()).toBe(0)
    // Not kept alive: cut by nginx about every 5 s, reconnected each time (opened-then-dropped: same transport).
    for (const x of [all[1]!, all[3]!]) {
      expect(x.w.reconnects()).toBeGreaterThanOrEqual(2)
      expect(x.w.reconnects()).toBeLessThanOrEqual(5)
      const reasons = x.w.events.filter((e) => e.status === 'reconnecting').map((e) => e.reason)
      for (const r of reasons) expect(['connection_lost', 'server_closed', 'sse_silent']).toContain(r)
    }
    expect(silent.transport === 'websocket' || silent.status !== 'open').toBe(true)
    for (const x of all) {
      if (x.c.status !== 'open') await waitFor(statusOf(x.c), (e) => e.status === 'open', 15_000, 'open again')
      await roundTrip(x.s, x.c, `alive-${x.label}`)
      rows.push(x.w.row('4 read timeout 5s', 'read-timeout', x.label))
    }
  })

  it('case 5: location does not match the realtime path → never opens; the reason and detail name the 404 and the path', async () => {
    const { n } = await deploy('wrong-path')
    const c = makeClient(n.url('/realtime'), { backoff: () => 200 })
    const w = watch(c)
    void c.connect().catch(() => {})
    const e = await waitFor(statusOf(c), (e) => e.status === 'reconnecting', 15_000, 'reconnecting')
    await waitFor(statusOf(c), (e) => e.status === 'reconnecting', 15_000, 'second reconnecting')
    expect(e.reason).toBe('sse_refused')
    expect(e.detail).toMatch(/SSE endpoint \/realtime answered 404 text\/html \(Server: nginx[^)]*\): nothing serves this path/)
    expect(w.events.some((x) => x.status === 'open')).toBe(false)
    rows.push(w.row('5 wrong path', 'wrong-path', 'default'))
  })
})
