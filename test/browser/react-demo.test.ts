/**
 * The React demo (examples/react-demo) in headless Chromium, against the reference server,
 * directly and through the test proxy refusing WebSocket upgrades the way a misconfigured
 * nginx does. The page is a React development build in StrictMode.
 */
import { rm } from 'node:fs/promises'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildDemo } from '../../examples/react-demo/build'
import { startDemoServer, type DemoServer } from '../../examples/react-demo/server'
import { startProxy, type TestProxy } from '../support/proxy'
import { until } from '../support/servers'
import { collectErrors, launchChromium, screenshot, textOf, waitText } from './support'

let out: string
let demo: DemoServer
let chromium: Awaited<ReturnType<typeof launchChromium>>
let browser: Browser
/** Sessions the server opened, and how they ended. */
let sessions: { transport: string | null; closed?: string }[] = []
const contexts: BrowserContext[] = []
const proxies: TestProxy[] = []

beforeAll(async () => {
  ;[out, chromium] = await Promise.all([buildDemo({ dev: true }), launchChromium()])
  browser = chromium.browser
  demo = await startDemoServer(out)
  demo.realtime.on('connection', (conn) => {
    const s: (typeof sessions)[number] = { transport: conn.transport }
    sessions.push(s)
    conn.on('close', (e) => (s.closed = e.reason))
  })
}, 120_000)

afterEach(async () => {
  for (const c of contexts.splice(0)) await c.close()
  for (const p of proxies.splice(0)) await p.close()
  sessions = []
})

afterAll(async () => {
  await chromium?.close()
  await demo?.close()
  if (out) await rm(out, { recursive: true, force: true })
})

async function open(path = '/', mode: TestProxy['mode'] = 'pass'): Promise<{ page: Page; proxy: TestProxy; context: BrowserContext; errors: string[] }> {
  const proxy = await startProxy({ targetPort: demo.port, mode, refuseStatus: 400 })
  proxies.push(proxy)
  const context = await browser.newContext({ viewport: { width: 760, height: 400 } })
  contexts.push(context)
  const page = await context.newPage()
  const errors = collectErrors(page)
  await page.goto(proxy.url(path))
  return { page, proxy, context, errors }
}

const logOf = (page: Page) => page.locator('[data-testid="log"] li').allTextContents()

async function say(page: Page, text: string): Promise<void> {
  await page.fill('[data-testid="input"]', text)
  await page.click('[data-testid="send"]')
  await waitText(page, 'messages', new RegExp(text))
}

describe('React demo in Chromium', () => {
  it('connects over WebSocket, renders live messages, sends, and shows the status', async () => {
    const { page, proxy, errors } = await open()
    await waitText(page, 'status', 'open')
    expect(await textOf(page, 'transport')).toBe('websocket')
    expect(await textOf(page, 'reason')).toBe('opened')
    demo.tick()
    const n = demo.tick()
    await waitText(page, 'tick', String(n))
    await say(page, 'hello from chromium')
    await say(page, 'and again')
    expect(proxy.stats.upgrades).toBe(1)
    expect(errors).toEqual([]) // no React warnings (StrictMode, dev build), no failed requests
    await screenshot(page, 'websocket')
  })

  it('falls back to SSE + POST when upgrades are refused (the browser sees only 1006), and a reload goes straight to SSE', async () => {
    const { page, proxy, errors } = await open('/', 'refuse')
    await waitText(page, 'status', 'open')
    expect(await textOf(page, 'transport')).toBe('sse')
    expect(await textOf(page, 'reason')).toBe('ws_refused')
    expect(proxy.stats.refused).toBeGreaterThanOrEqual(1)
    // Chromium logs the handshake failure; the page itself only got close code 1006.
    expect(errors.filter((e) => !/WebSocket connection to .* failed/.test(e))).toEqual([])
    await say(page, 'over POST')
    await waitText(page, 'tick', String(demo.tick()))
    expect(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('surewire:ws-blocked:')).length)).toBe(1)
    await screenshot(page, 'sse-fallback')

    proxy.resetStats()
    await page.reload()
    await waitText(page, 'status', 'open')
    expect(await textOf(page, 'transport')).toBe('sse')
    expect(await textOf(page, 'reason')).toBe('ws_remembered')
    await say(page, 'after reload')
    expect(proxy.stats.upgrades).toBe(0) // remembered: no new WebSocket attempt
  })

  it('opens exactly one connection under StrictMode, closes it when the last user unmounts, reopens on mount', async () => {
    const { page, proxy } = await open()
    await waitText(page, 'status', 'open')
    await say(page, 'one connection') // a full round trip: anything StrictMode started has settled
    // Mount, unmount, mount: no close in between, one attempt, one session.
    expect(await logOf(page)).toEqual(['connecting · – · connect_called', 'open · websocket · opened'])
    expect(sessions).toHaveLength(1)
    expect(proxy.stats.upgrades).toBe(1)
    expect(sessions[0]!.closed).toBeUndefined()

    await page.click('[data-testid="toggle"]')
    await page.waitForSelector('[data-testid="unmounted"]')
    await until(() => sessions[0]!.closed !== undefined, 15_000, 'the session to end')
    expect(sessions[0]!.closed).toBe('client_closed')

    await page.click('[data-testid="toggle"]')
    await waitText(page, 'status', 'open')
    await say(page, 'back again')
    expect(await logOf(page)).toEqual([
      'connecting · – · connect_called',
      'open · websocket · opened',
      'closed · – · closed_by_client',
      'connecting · – · connect_called',
      'open · websocket · opened',
    ])
    expect(sessions).toHaveLength(2)
    expect(proxy.stats.upgrades).toBe(2)
  })

  it('going offline drops the connection; going online reconnects at once (no backoff wait)', async () => {
    // A 10-minute backoff: only the browser's `online` event can bring it back within the test.
    const { page, context } = await open('/?backoff=600000')
    await waitText(page, 'status', 'open')
    await say(page, 'going offline now')
    await context.setOffline(true)
    await waitText(page, 'status', 'reconnecting')
    expect(await textOf(page, 'reason')).toBe('network_offline')
    await screenshot(page, 'offline')
    await context.setOffline(false)
    await waitText(page, 'status', 'open')
    await waitText(page, 'log', /connecting · – · network_online/)
    expect(await textOf(page, 'transport')).toBe('websocket')
    await say(page, 'back online')
  })
})
