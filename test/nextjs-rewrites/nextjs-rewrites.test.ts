/**
 * Next.js `rewrites()` under `next start` in front of separate reference servers (issue #13).
 * The rewrite proxy sets Host to the destination and X-Forwarded-Host to the page's host:
 * - default server: pages are refused on Origin; doctor names host_rewritten (recognising Next.js
 *   from the site root) with the `trustForwardedHost` fix, exit 1, as the browser-like client;
 *   plain Node clients work (WebSocket upgrades do pass through the rewrite);
 * - a server with `trustForwardedHost: true`: WebSocket for both, exit 0.
 *
 * The app (test/nextjs-rewrites/app) is copied to a temp dir with examples/nextjs's node_modules
 * linked in (installed from the npm registry on first run, as test/browser/nextjs.test.ts does)
 * and built with `next build --webpack` (~35 s; Turbopack refuses a node_modules outside its root).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../support/daemon'
import { startServer, type TestServer } from '../support/servers'
import { agree, idleAttempts, printTable, row, scheduleBound, type Row } from '../deployments/agree'

const here = dirname(fileURLToPath(import.meta.url))
const example = join(here, '../../examples/nextjs')
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NO_UPDATE_NOTIFIER: '1' }

function run(cmd: string, args: string[], cwd: string, timeoutMs: number, extraEnv: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8_000)))
    child.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8_000)))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${out}`))
    })
  })
}

let dir: string
let next: ChildProcess | undefined
let origin: string
const servers: TestServer[] = []
const rows: Row[] = []

beforeAll(async () => {
  if (!existsSync(join(example, 'node_modules/next/package.json'))) await run('npm', ['install', '--no-audit', '--no-fund'], example, 150_000)
  const [plainPort, trustedPort, nextPort] = [await freePort(), await freePort(), await freePort()]
  servers.push(await startServer({}, plainPort), await startServer({ trustForwardedHost: true } as object, trustedPort))
  dir = mkdtempSync(join(tmpdir(), 'surewire-next-rewrites-'))
  cpSync(join(here, 'app'), dir, { recursive: true })
  symlinkSync(join(example, 'node_modules'), join(dir, 'node_modules'))
  const bin = join(dir, 'node_modules/next/dist/bin/next')
  await run(process.execPath, [bin, 'build', '--webpack'], dir, 180_000, { REALTIME_UPSTREAM: `http://127.0.0.1:${plainPort}`, TRUSTED_UPSTREAM: `http://127.0.0.1:${trustedPort}` })
  next = spawn(process.execPath, [bin, 'start', '-p', String(nextPort), '-H', '127.0.0.1'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`next start not ready in 30 s:\n${out}`)), 30_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      if (/Ready in/.test(out)) (clearTimeout(timer), resolve())
    }
    next!.stdout!.on('data', onData)
    next!.stderr!.on('data', onData)
  })
  origin = `http://127.0.0.1:${nextPort}`
}, 360_000)

afterAll(async () => {
  printTable('Next.js rewrites() under next start (issue #13): client vs doctor', rows)
  if (next?.pid && next.exitCode === null) {
    const exited = new Promise((r) => next!.once('exit', r))
    process.kill(next.pid, 'SIGTERM')
    await exited
  }
  await Promise.all(servers.map((s) => s.close()))
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe.concurrent('Next.js rewrites() to a separate realtime server', () => {
  it('default server: host_rewritten (Next.js recognised, trustForwardedHost fix), exit 1, like the browser-like client; plain Node gets WebSocket', async () => {
    const url = `${origin}/realtime`
    const browser = await agree(url, 'browser')
    expect(browser.doctor.cause).toBe('host_rewritten')
    expect(browser.doctor.proxy.kind).toBe('nextjs')
    expect(browser.doctor.findings[0]!.fixes[0]!.snippet).toContain('trustForwardedHost: true')
    expect(browser.client.closed?.code).toBe('origin_not_allowed')
    const node = await agree(url, 'node')
    expect(node.doctor.transport).toBe('websocket')
    const idle = await idleAttempts(url, { origin })
    expect(idle.attempts).toBeLessThanOrEqual(scheduleBound())
    rows.push(row('Next.js rewrites, default server', 'browser', browser, idle), row('Next.js rewrites, default server', 'node', node))
  })

  it('server with trustForwardedHost: WebSocket through the rewrite for browsers and Node, exit 0', async () => {
    const url = `${origin}/trusted/realtime`
    const browser = await agree(url, 'browser')
    expect([browser.doctor.transport, browser.doctor.cause]).toEqual(['websocket', null])
    const node = await agree(url, 'node')
    const idle = await idleAttempts(url, { origin })
    expect(idle.attempts).toBe(1)
    rows.push(row('Next.js rewrites, trustForwardedHost', 'browser', browser, idle), row('Next.js rewrites, trustForwardedHost', 'node', node))
  })
})
