/**
 * Tabs of one browser share one connection (src/client/share, docs/TABS.md), in headless Chromium
 * against the reference server: directly (WebSocket) and behind the test proxy refusing upgrades
 * (SSE + POST over HTTP/1.1, where the browser's 6 connections per host are the limit). Every
 * test runs a sequenced stream (ticks n = 1, 2, …) and checks each tab got it exactly once, in order.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRealtimeServer } from '../../src/server'
import { ClientMessage, ServerMessage } from '../support/schemas'
import { startProxy, type TestProxy } from '../support/proxy'
import { until } from '../support/servers'
import { launchChromium } from './support'

type Realtime = ReturnType<typeof createRealtimeServer<typeof ClientMessage, typeof ServerMessage>>

let chromium: Awaited<ReturnType<typeof launchChromium>>
let browser: Browser
let http: Server
let realtime: Realtime
let port: number
let script: string
/** Open transports on the server: SSE streams and WebSocket upgrades. */
let live = 0
/** Every echo text the server accepted, in order (exactly-once check of sends). */
let received: string[] = []
const seqOf: string[] = []
const contexts: BrowserContext[] = []
const proxies: TestProxy[] = []
/** Sends that reached the server twice, per test run, by how the leader left (for the report). */
const duplicates: Record<string, number[]> = {}
/** Takeover times (ms) by how the leader left, for the report. */
const takeovers: Record<string, number[]> = {}

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('./tabs-page.ts', import.meta.url))],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    external: ['ws', 'node:*'],
  })
  script = bundle.outputFiles[0]!.text
  chromium = await launchChromium()
  browser = chromium.browser
  realtime = createRealtimeServer({ incoming: ClientMessage, outgoing: ServerMessage })
  realtime.on('connection', (conn) => {
    conn.on('message', (m) => {
      if (m.type !== 'echo') return
      received.push(m.text)
      seqOf.push(`${m.text}@${conn.inboundSeq}`)
      void conn.send({ type: 'echo', text: m.text })
    })
  })
  http = createServer((req, res) => {
    if (req.url === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>tab</title><script src="/tabs.js"></script>')
    if (req.url === '/tabs.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(script)
    if (req.url === '/ping') return res.writeHead(200, { 'content-type': 'text/plain' }).end('pong')
    res.writeHead(404).end()
  })
  realtime.attach(http) // before the counters: attach() takes over the request listeners there are
  http.on('request', (req: IncomingMessage, res) => {
    if (req.method !== 'GET' || !req.url?.startsWith('/realtime') || !String(req.headers.accept).includes('text/event-stream')) return
    live++
    res.on('close', () => live--)
  })
  http.on('upgrade', (_req, socket) => {
    live++
    socket.on('close', () => live--)
  })
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
  port = (http.address() as AddressInfo).port
}, 120_000)

afterEach(async () => {
  stopTicks()
  for (const c of contexts.splice(0)) await c.close().catch(() => {})
  for (const p of proxies.splice(0)) await p.close()
  // The pages are gone: once their transports are closed, end every session, so the next test starts from none.
  await until(() => live === 0, 10_000, 'transports to close')
  for (const c of realtime.connections) c.close()
  received = []
  seqOf.length = 0
})

afterAll(async () => {
  const figures = Object.entries(takeovers).map(([how, ms]) => {
    const s = [...ms].sort((a, b) => a - b)
    return `${how}: n=${s.length} median=${s[Math.floor(s.length / 2)]} ms max=${s[s.length - 1]} ms`
  })
  if (figures.length) console.log(`takeover times\n  ${figures.join('\n  ')}\nduplicate sends per run: ${JSON.stringify(duplicates)}`)
  await chromium?.close()
  await realtime?.close()
  http?.closeAllConnections()
  await new Promise<void>((r) => (http ? http.close(() => r()) : r()))
})

// ------------------------------------------------------------------ helpers

let tick = 0
let ticker: ReturnType<typeof setInterval> | undefined
/** Broadcast tick n+1, n+2, … every `ms`; returns the number of the last one sent so far via `lastTick`. */
function startTicks(ms = 20): void {
  stopTicks()
  tick = 0
  ticker = setInterval(() => realtime.broadcast({ type: 'tick', n: ++tick }), ms)
}
function stopTicks(): void {
  clearInterval(ticker)
  ticker = undefined
}

async function origin(mode: 'direct' | 'sse'): Promise<string> {
  if (mode === 'direct') return `http://127.0.0.1:${port}`
  const proxy = await startProxy({ targetPort: port, mode: 'refuse', refuseStatus: 400 })
  proxies.push(proxy)
  return proxy.url('').replace(/\/$/, '')
}

async function context(): Promise<BrowserContext> {
  const c = await browser.newContext()
  contexts.push(c)
  return c
}

type Opts = { shareTabs?: boolean; transports?: ('websocket' | 'sse')[]; topics?: string[] }
async function openTab(ctx: BrowserContext, base: string, o: Opts = {}): Promise<Page> {
  const page = await ctx.newPage()
  await page.goto(`${base}/`)
  await page.waitForFunction(() => 'tab' in globalThis)
  await page.evaluate((o) => (globalThis as never as { tab: { start(o: unknown): Promise<unknown> } }).tab.start(o), o)
  return page
}

type Rec = { ticks: [number, number][]; echoes: string[]; statuses: string[]; errors: { code?: string; message: string }[] }
const recOf = (page: Page): Promise<Rec> =>
  page.evaluate(() => {
    const t = (globalThis as never as { tab: Rec }).tab
    return { ticks: t.ticks, echoes: t.echoes, statuses: t.statuses, errors: t.errors }
  })
const sendMany = (page: Page, prefix: string, count: number, gapMs = 0) =>
  page.evaluate(
    ([p, n, g]) => (globalThis as never as { tab: { sendMany(p: string, n: number, g: number): Promise<{ sent: number; failed: string[] }> } }).tab.sendMany(p, n, g),
    [prefix, count, gapMs] as const,
  )
const fetchOk = (page: Page) => page.evaluate(() => (globalThis as never as { tab: { fetchOk(): Promise<string> } }).tab.fetchOk())

/** The ticks a tab got form one run n, n+1, …: no gap, no duplicate. Returns [first, last]. */
function expectInOrder(ticks: [number, number][], label: string): [number, number] {
  const ns = ticks.map(([n]) => n)
  expect(ns.length, `${label}: no ticks`).toBeGreaterThan(0)
  for (let i = 1; i < ns.length; i++) if (ns[i] !== ns[i - 1]! + 1) throw new Error(`${label}: tick ${ns[i]} after ${ns[i - 1]} (gap or duplicate): ${ns.join(',')}`)
  return [ns[0]!, ns[ns.length - 1]!]
}

async function waitTicks(pages: Page[], upTo: number): Promise<Rec[]> {
  const recs: Rec[] = []
  for (const p of pages) {
    await p.waitForFunction((n) => (globalThis as never as { tab: Rec }).tab.ticks.some(([x]) => x >= n), upTo, { timeout: 15_000, polling: 50 })
    recs.push(await recOf(p))
  }
  return recs
}

/**
 * The sessions with a transport attached. A connect attempt that timed out on a loaded machine after
 * the server had opened its session leaves that session empty (no transport) until its TTL: it is
 * not a connection, and no tab holds it.
 */
const attached = () => realtime.connections.filter((c) => c.transport !== null)

/** When each page last opened a realtime transport itself (0: never). */
const openedAt = (pages: Page[]) => Promise.all(pages.map((p) => p.evaluate(() => (globalThis as never as { tab: { openedAt(): number } }).tab.openedAt())))

/**
 * One live session on the server, with one transport attached, and (given the tabs) only one of them
 * ever opened a transport: no tab opened its own.
 */
async function expectOneConnection(pages?: Page[]): Promise<void> {
  await until(() => attached().length === 1 && live === 1, 10_000, 'one session and one transport').catch((err: Error) => {
    throw new Error(`${err.message}: sessions ${realtime.connections.map((c) => `${c.id} on ${c.transport}`).join(', ')}; transports ${live}`)
  })
  if (pages) expect((await openedAt(pages)).filter((t) => t > 0), 'tabs that opened a transport themselves').toHaveLength(1)
}

// ------------------------------------------------------------------ tests

describe.each([
  ['WebSocket', 'direct', 'websocket'],
  ['SSE + POST over HTTP/1.1 (upgrades refused)', 'sse', 'sse'],
] as const)('10 tabs on %s', (_name, mode, transport) => {
  it('open, send and receive over one session and one connection; fetch() still answers', async () => {
    const base = await origin(mode)
    const ctx = await context()
    startTicks()
    const pages: Page[] = []
    for (let i = 0; i < 10; i++) pages.push(await openTab(ctx, base))
    await expectOneConnection(pages)
    const results = await Promise.all(pages.map((p, i) => sendMany(p, `t${i}`, 20)))
    for (const r of results) expect(r).toEqual({ sent: 20, failed: [] })
    expect([...received].sort()).toEqual(pages.flatMap((_, i) => Array.from({ length: 20 }, (_, k) => `t${i}-${k}`)).sort())
    for (const p of pages) expect(await fetchOk(p)).toBe('pong')
    const upTo = tick + 5
    const recs = await waitTicks(pages, upTo)
    recs.forEach((r, i) => {
      expectInOrder(r.ticks, `tab ${i}`)
      expect(r.statuses.at(-1)).toBe(`open:${transport}:${r.statuses.at(-1)!.split(':')[2]}`)
      // every echo (they go to the session) reached every tab, once
      expect(new Set(r.echoes).size).toBe(r.echoes.length)
    })
    await expectOneConnection(pages)
  })
})

describe('the leader leaves', () => {
  const ways = {
    closed: async (p: Page) => p.close(),
    crashed: async (p: Page) => {
      const cdp = await p.context().newCDPSession(p)
      const crashed = new Promise((r) => p.once('crash', r))
      void cdp.send('Page.crash').catch(() => {}) // the renderer dies before it answers
      await crashed
    },
    frozen: async (p: Page) => {
      const cdp = await p.context().newCDPSession(p)
      await cdp.send('Page.setWebLifecycleState', { state: 'frozen' })
    },
  }
  /** The tab that opened a realtime transport last: the leader. */
  async function leaderOf(pages: Page[]): Promise<Page> {
    const at = await openedAt(pages)
    return pages[at.indexOf(Math.max(...at))]!
  }
  const RUNS = 3
  for (const [how, leave] of Object.entries(ways)) {
    for (const mode of ['direct', 'sse'] as const) {
      it(`${how} (${mode === 'direct' ? 'WebSocket' : 'SSE'}), ${RUNS} leaders in a row: the next tab resumes the session within 2 s; no gap, no duplicate; sends survive`, async () => {
        const base = await origin(mode)
        const ctx = await context()
        startTicks()
        let pages: Page[] = []
        for (let i = 0; i < RUNS + 2; i++) pages.push(await openTab(ctx, base))
        await expectOneConnection(pages).catch(async (err: Error) => {
          const recs = await Promise.all(pages.map(recOf))
          throw new Error(`${err.message}\n${recs.map((r, i) => `tab ${i}: ${r.statuses.join(' ')} ${JSON.stringify(r.errors)}`).join('\n')}`)
        })
        const sid = attached()[0]!.id
        await waitTicks(pages, tick + 3)
        const all = [...pages]
        const gone: Page[] = []
        const sends: { page: Page; prefix: string; done: Promise<{ sent: number; failed: string[] } | null> }[] = []
        for (let run = 0; run < RUNS; run++) {
          const leader = await leaderOf(pages)
          pages = pages.filter((p) => p !== leader)
          // Every tab keeps sending through the handoff (the leader's own sends die with it, unless it only froze).
          for (const p of [...pages, leader]) {
            const prefix = `${how}${run}.${all.indexOf(p)}-`
            sends.push({ page: p, prefix, done: sendMany(p, prefix, 20, 15).catch(() => null) })
          }
          const t0 = Date.now()
          const firstAfter = tick + 1
          await leave(leader)
          gone.push(leader)
          const recs = await waitTicks(pages, firstAfter + 5)
          const took = Math.max(...recs.map((r) => r.ticks.find(([n]) => n >= firstAfter)![1])) - t0
          ;(takeovers[`${how} ${mode === 'direct' ? 'ws' : 'sse'}`] ??= []).push(took)
          expect(took).toBeLessThan(2_000)
          for (const [i, r] of recs.entries()) expectInOrder(r.ticks, `tab ${i} after ${run + 1} handoffs`)
        }
        if (how === 'frozen') {
          // Thawed, the old leaders follow the new one: they miss nothing of what it delivers, and their sends go through.
          for (const p of gone) await (await p.context().newCDPSession(p)).send('Page.setWebLifecycleState', { state: 'active' })
          for (const [i, r] of (await waitTicks(gone, tick + 3)).entries()) expectInOrder(r.ticks, `thawed tab ${i}`)
        }
        const survivors = how === 'frozen' ? all : pages
        const checked = sends.filter((x) => survivors.includes(x.page))
        for (const x of checked) expect(await x.done, x.prefix).toEqual({ sent: expect.any(Number), failed: [] })
        const got = received.filter((t) => t.startsWith(how))
        const twice = got.filter((t, i) => got.indexOf(t) !== i)
        ;(duplicates[how] ??= []).push(twice.length)
        if (twice.length) console.log(`duplicates (${how} ${mode}): ${twice.join(" ")}\n` + seqOf.filter((x) => twice.includes(x.split('@')[0]!)).join(' ') + '\nlast seqs: ' + seqOf.filter((x) => x.startsWith(how)).map((x) => x.split('@')[1]).join(','))
        expect(twice, 'no send reached the server twice').toEqual([])
        for (const x of checked) expect(new Set(got.filter((t) => t.startsWith(x.prefix))).size, `${x.prefix}: every send arrived`).toBe(20)
        expect(attached().map((c) => c.id)).toEqual([sid]) // the same session all along
        await expectOneConnection()
      })
    }
  }
})

describe('per tab', () => {
  it('subscriptions: a tab gets only its own topics plus messages to the session', async () => {
    const ctx = await context()
    const base = await origin('direct')
    const a = await openTab(ctx, base, { topics: ['a'] })
    const b = await openTab(ctx, base, { topics: ['b'] })
    const none = await openTab(ctx, base)
    await expectOneConnection([a, b, none])
    const session = attached()[0]!
    await until(() => session.topics.size === 2, 10_000, 'the union of topics on the server')
    for (let i = 1; i <= 20; i++) {
      void realtime.publish('a', { type: 'tick', n: 1000 + i })
      void realtime.publish('b', { type: 'tick', n: 2000 + i })
      void realtime.broadcast({ type: 'echo', text: `all-${i}` })
    }
    await a.waitForFunction(() => (globalThis as never as { tab: Rec }).tab.echoes.length >= 20)
    await b.waitForFunction(() => (globalThis as never as { tab: Rec }).tab.echoes.length >= 20)
    await none.waitForFunction(() => (globalThis as never as { tab: Rec }).tab.echoes.length >= 20)
    const [ra, rb, rn] = await Promise.all([recOf(a), recOf(b), recOf(none)])
    expect(ra.ticks.map(([n]) => n)).toEqual(Array.from({ length: 20 }, (_, i) => 1001 + i))
    expect(rb.ticks.map(([n]) => n)).toEqual(Array.from({ length: 20 }, (_, i) => 2001 + i))
    expect(rn.ticks).toEqual([])
    for (const r of [ra, rb, rn]) expect(r.echoes).toEqual(Array.from({ length: 20 }, (_, i) => `all-${i + 1}`))
    // Unsubscribing in one tab leaves the other tabs' topics alone.
    await a.evaluate(() => (globalThis as never as { tab: { client: { unsubscribe(t: string): Promise<void> } } }).tab.client.unsubscribe('a'))
    await until(() => !session.topics.has('a') && session.topics.has('b'), 10_000, 'topic a dropped, b kept')
  })

  it('a tab opened later joins the existing connection', async () => {
    const ctx = await context()
    const base = await origin('direct')
    startTicks()
    const first = [await openTab(ctx, base), await openTab(ctx, base)]
    await expectOneConnection(first)
    const late = await openTab(ctx, base)
    const [r] = await waitTicks([late], tick + 5)
    expectInOrder(r!.ticks, 'late tab')
    await waitTicks(first, tick + 1)
    await expectOneConnection([...first, late])
    expect(await sendMany(late, 'late', 5)).toEqual({ sent: 5, failed: [] })
  })

  it('close() detaches one tab; the session ends when the last tab closes', async () => {
    const ctx = await context()
    const base = await origin('direct')
    const pages = [await openTab(ctx, base), await openTab(ctx, base), await openTab(ctx, base)]
    await expectOneConnection(pages)
    const sid = attached()[0]!.id
    const closeIn = (p: Page) => p.evaluate(() => (globalThis as never as { tab: { client: { close(): void } } }).tab.client.close())
    await closeIn(pages[1]!)
    await closeIn(pages[0]!) // the leader: tab 2 takes over
    expect(await sendMany(pages[2]!, 'last', 3)).toEqual({ sent: 3, failed: [] })
    expect(attached().map((c) => c.id)).toEqual([sid])
    await closeIn(pages[2]!)
    await until(() => !realtime.connections.some((c) => c.id === sid) && live === 0, 10_000, 'the session to end')
  })
})

describe('sharing turned off', () => {
  it('behaves as today: a connection per tab, and on SSE over HTTP/1.1 a connection_limit error', async () => {
    const ctx = await context()
    const base = await origin('sse')
    startTicks()
    const pages = [await openTab(ctx, base, { shareTabs: false }), await openTab(ctx, base, { shareTabs: false }), await openTab(ctx, base, { shareTabs: false })]
    await until(() => attached().length === 3 && live === 3, 10_000, 'three sessions')
    for (const p of pages) expect(await sendMany(p, 'off', 2)).toEqual({ sent: 2, failed: [] })
    const recs = await waitTicks(pages, tick + 3)
    for (const [i, r] of recs.entries()) {
      expectInOrder(r.ticks, `tab ${i}`)
      expect(r.errors.filter((e) => e.code === 'connection_limit')).toHaveLength(1)
    }
  })
})
