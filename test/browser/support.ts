/**
 * Real-browser test support: Debian's Chromium driven by playwright-core, the React demo
 * built by Vite, and the demo server behind the misbehaving proxy.
 */
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

/**
 * Headless Chromium; fails with the fix when it is not installed. playwright gives launch() a
 * fresh temporary profile, and every newContext() its own storage (localStorage included).
 */
export async function launchChromium(): Promise<{ browser: Browser; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set CHROMIUM_PATH`)
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
    timeout: 60_000,
  })
  return {
    browser,
    close: () => browser.close(),
  }
}

/** Wait until the element with `data-testid=id` has exactly `text` (or matches it). */
export async function waitText(page: Page, id: string, text: string | RegExp, timeout = 20_000): Promise<void> {
  const source = typeof text === 'string' ? { s: text } : { re: text.source, flags: text.flags }
  try {
    await page.waitForFunction(
      ([id, t]) => {
        const got = document.querySelector(`[data-testid="${id}"]`)?.textContent ?? null
        if (got === null) return false
        return 's' in t ? got === t.s : new RegExp(t.re!, t.flags).test(got)
      },
      [id, source] as const,
      { timeout, polling: 50 },
    )
  } catch (err) {
    const got = await page.locator(`[data-testid="${id}"]`).first().textContent().catch(() => null)
    throw new Error(`waiting for [data-testid=${id}] to be ${String(text)}; it is ${JSON.stringify(got)}`, { cause: err })
  }
}

export const textOf = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`).first().textContent()

/** Errors the page printed or threw, for "no warnings" assertions. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`)
  })
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`))
  return errors
}

/**
 * With SUREWIRE_SCREENSHOTS=1 (`npm run screenshots`), save the page as
 * docs/screenshots/<name>.png for the README; otherwise do nothing.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.SUREWIRE_SCREENSHOTS !== '1') return
  const dir = join(repoRoot, 'docs/screenshots')
  await mkdir(dir, { recursive: true })
  await page.screenshot({ path: join(dir, `${name}.png`) })
}
