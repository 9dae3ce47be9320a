/**
 * A uvicorn / Starlette app without a WebSocket route in front of the server (issue #13): uvicorn
 * answers the upgrade with 403, no credentials involved. Streaming: the client falls back to
 * SSE + POST (never `auth_failed`), and doctor says SSE + POST with `ws_refused`, exit 0.
 * Buffered: nothing works, and doctor names `sse_buffered` first, exit 1.
 */
import { spawnSync } from 'node:child_process'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort, startDaemon, type Daemon } from '../support/daemon'
import { startServer, type TestServer } from '../support/servers'
import { agree, idleAttempts, printTable, row, scheduleBound, type Row } from './agree'

function python(): string {
  for (const c of [process.env.SUREWIRE_PYTHON, '/usr/bin/python3', 'python3'].filter((c): c is string => !!c)) {
    if (spawnSync(c, ['-c', 'import starlette, uvicorn, websockets, httpx'], { stdio: 'ignore' }).status === 0) return c
  }
  throw new Error('no python3 with starlette, uvicorn, websockets and httpx: apt-get install -y python3-fastapi python3-uvicorn python3-websockets python3-httpx (.ci/run does), or set SUREWIRE_PYTHON')
}

const here = dirname(fileURLToPath(import.meta.url))
const servers: TestServer[] = []
const daemons: Daemon[] = []
const rows: Row[] = []
afterAll(async () => {
  printTable('uvicorn / Starlette in front (issue #13): client vs doctor', rows)
  await Promise.all(daemons.map((d) => d.stop()))
  await Promise.all(servers.map((s) => s.close()))
})

async function deploy(mode: 'stream' | 'buffered'): Promise<string> {
  const s = await startServer()
  servers.push(s)
  const port = await freePort()
  const env = { ...process.env, UPSTREAM: `http://127.0.0.1:${s.port}`, FRONT_MODE: mode, PYTHONPATH: here }
  const d = await startDaemon(python(), ['-m', 'uvicorn', 'starlette_front:app', '--host', '127.0.0.1', '--port', String(port), '--no-access-log'], { port, prefix: `/nonexistent-${port}`, env })
  if ('failed' in d) throw new Error(`uvicorn did not start: ${d.failed}`)
  daemons.push(d)
  return `http://127.0.0.1:${port}/realtime`
}

describe.concurrent('uvicorn / Starlette without a WebSocket route in front', () => {
  it('streaming: 403 on the upgrade is a refused upgrade, not auth: SSE + POST for client and doctor (ws_refused, exit 0)', async () => {
    const url = await deploy('stream')
    const browser = await agree(url, 'browser')
    expect([browser.doctor.transport, browser.doctor.ok, browser.doctor.cause, browser.doctor.proxy.kind]).toEqual(['sse', true, 'ws_refused', 'uvicorn'])
    expect(browser.doctor.findings.map((f) => f.cause)).not.toContain('auth_required')
    expect(browser.client.openReason).toBe('ws_refused')
    const node = await agree(url, 'node')
    expect(node.client.closed).toBeNull()
    const idle = await idleAttempts(url, { origin: new URL(url).origin })
    expect(idle.attempts).toBe(1)
    rows.push(row('uvicorn/Starlette, streaming', 'browser', browser, idle), row('uvicorn/Starlette, streaming', 'node', node))
  })

  it('buffered: no transport for client and doctor; sse_buffered ranked above the 403 (exit 1); retries within the schedule', async () => {
    const url = await deploy('buffered')
    const browser = await agree(url, 'browser', { doctor: { timeoutMs: 3_000 }, client: { boundMs: 15_000 } })
    expect([browser.doctor.transport, browser.doctor.cause]).toEqual([null, 'sse_buffered'])
    expect(browser.doctor.findings.map((f) => f.cause)).toEqual(expect.arrayContaining(['sse_buffered', 'ws_refused']))
    const idle = await idleAttempts(url, { origin: new URL(url).origin })
    expect(idle.attempts).toBeLessThanOrEqual(scheduleBound())
    rows.push(row('uvicorn/Starlette, buffered', 'browser', browser, idle))
  })
})
