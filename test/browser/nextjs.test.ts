/**
 * examples/nextjs, built and served like production: `next build`, then its custom server
 * (Next + the reference server for WebSocket upgrades; SSE + POST through the route handler
 * with createFetchHandler), loaded in Chromium.
 *
 * Installs the example's dependencies from the npm registry on first run (npm install), builds
 * this repo's library into the example's node_modules/surewire/dist (what npm copied from
 * file:../.. was the library as it was then), runs `next build` (~30-60 s).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startProxy, type TestProxy } from '../support/proxy'
import { collectErrors, launchChromium, repoRoot, screenshot, textOf, waitText } from './support'

const example = join(repoRoot, 'examples/nextjs')
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NO_UPDATE_NOTIFIER: '1' }

/** Run a command; reject with the tail of its output when it fails or outlives `timeoutMs`. */
function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8_000)))
    child.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8_000)))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve()
      else reject(new Error(`${cmd} ${args.join(' ')} in ${cwd} failed (${signal ?? `exit ${code}`}):\n${out}`))
    })
  })
}

const mtime = (p: string) => stat(p).then((s) => s.mtimeMs, () => 0)

/** npm install (exact versions from package.json; no lockfile, see its .npmrc) when node_modules is missing or stale. */
async function install(): Promise<void> {
  const installed = await mtime(join(example, 'node_modules/.package-lock.json'))
  const fresh = installed > 0 && installed >= (await mtime(join(example, 'package.json'))) && (await mtime(join(example, 'node_modules/next/package.json'))) > 0
  if (!fresh) await run('npm', ['install', '--no-audit', '--no-fund'], example, 150_000)
}

/** Start `node server.mjs` on a free port; resolves with its URL once it says so. */
function startNext(): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['server.mjs'], { cwd: example, env: { ...env, PORT: '0', NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the Next.js server did not start within 60 s:\n${out}`))
    }, 60_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = /ready on (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve({ child, url: m[1]! })
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`the Next.js server exited (${code}):\n${out}`))
    })
  })
}

// Reason for the switch: the Next.js example costs an npm install and a production build
// (1-2 minutes); SUREWIRE_SKIP_NEXT=1 leaves it out of quick local runs. CI runs it.
describe.skipIf(process.env.SUREWIRE_SKIP_NEXT === '1')('Next.js App Router example in Chromium', () => {
  let server: { child: ChildProcess; url: string } | undefined
  let chromium: Awaited<ReturnType<typeof launchChromium>> | undefined
  let browser: Browser
  const contexts: BrowserContext[] = []
  const proxies: TestProxy[] = []

  beforeAll(async () => {
    const launching = launchChromium()
    await install()
    // The library as it is now, where the example's node_modules expects it.
    await run(process.execPath, [join(repoRoot, 'node_modules/tsup/dist/cli-default.js'), '--out-dir', join(example, 'node_modules/surewire/dist')], repoRoot, 120_000)
    await copyFile(join(repoRoot, 'package.json'), join(example, 'node_modules/surewire/package.json'))
    await run('npm', ['run', 'build'], example, 180_000)
    server = await startNext()
    chromium = await launching
    browser = chromium.browser
  }, 300_000)

  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close()
    for (const p of proxies.splice(0)) await p.close()
  })

  afterAll(async () => {
    await chromium?.close()
    const child = server?.child
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
    }
  })

  async function open(url: string): Promise<{ page: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport: { width: 640, height: 420 } })
    contexts.push(context)
    const page = await context.newPage()
    const errors = collectErrors(page)
    await page.goto(url)
    return { page, errors }
  }

  async function say(page: Page, text: string): Promise<void> {
    await page.fill('[data-testid="input"]', text)
    await page.click('[data-testid="send"]')
    await waitText(page, 'messages', new RegExp(text))
  }

  it('server-renders `idle` without connecting, hydrates without warnings, then talks over WebSocket', async () => {
    const html = await (await fetch(server!.url)).text()
    expect(html).toMatch(/data-testid="status">idle</)
    const { page, errors } = await open(server!.url)
    await waitText(page, 'status', 'open')
    expect(await textOf(page, 'transport')).toBe('websocket')
    await say(page, 'hello from next')
    await waitText(page, 'tick', /^\d+$/) // the server's ticker, every 2 s
    expect(errors).toEqual([]) // no hydration mismatch, no failed request
    await screenshot(page, 'nextjs')
  })

  it('serves SSE + POST from the route handler (createFetchHandler)', async () => {
    const { page, errors } = await open(`${server!.url}/?transport=sse`)
    await waitText(page, 'status', 'open')
    expect(await textOf(page, 'transport')).toBe('sse')
    await say(page, 'through the route handler')
    await waitText(page, 'tick', /^\d+$/)
    expect(errors).toEqual([])
  })

  it('falls back to the route handler when a proxy refuses the upgrade', async () => {
    const proxy = await startProxy({ targetPort: Number(new URL(server!.url).port), mode: 'refuse', refuseStatus: 400 })
    proxies.push(proxy)
    const { page } = await open(proxy.url('/'))
    await waitText(page, 'status', 'open')
    expect(await textOf(page, 'transport')).toBe('sse')
    expect(await textOf(page, 'reason')).toBe('ws_refused')
    await say(page, 'behind a proxy without upgrades')
    expect(proxy.stats.refused).toBeGreaterThanOrEqual(1)
  })
})
