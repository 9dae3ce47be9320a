/**
 * createFetchHandler served by `Bun.serve` and `Deno.serve` (test/runtimes/fetch-server.ts, a
 * real Bun / Deno process from npm, see scripts/runtime-bin.mjs), with this Node process as the
 * client over SSE + POST: hello, echo both ways, a broadcast, a WebSocket-first client falling
 * back because the Fetch handler cannot upgrade, and a resumed session after the stream drops.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runtimeBinary } from '../scripts/runtime-bin.mjs'
import type { StatusEvent } from '../src'
import type { ServerMessage } from './support/schemas'
import { closeClients, makeClient, waitFor } from './support/servers'
import { startProxy } from './support/proxy'

const root = fileURLToPath(new URL('..', import.meta.url))
const script = 'test/runtimes/fetch-server.ts'

interface Served {
  url: string
  port: number
  child: ChildProcess
  broadcast(m: ServerMessage): void
  stop(): Promise<void>
}

/** Start the Fetch handler under `runtime`; resolves once it printed its port (≤ 60 s: a first run may install it). */
async function serveOn(runtime: 'bun' | 'deno'): Promise<Served> {
  const bin = runtimeBinary(runtime)
  const args = runtime === 'bun' ? [script] : ['run', '--allow-net=127.0.0.1', '--allow-read', '--allow-env', script]
  const child = spawn(bin, args, { cwd: root, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const first = await new Promise<{ port: number; runtime: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${runtime}: no port after 60 s; stderr: ${stderr}`)), 60_000)
    void exited.then(() => reject(new Error(`${runtime} exited before listening; stderr: ${stderr}`)))
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer)
      resolve(JSON.parse(line) as { port: number; runtime: string })
    })
  })
  expect(first.runtime).toBe(runtime)
  return {
    port: first.port,
    url: `http://127.0.0.1:${first.port}/realtime`,
    child,
    broadcast: (m) => child.stdin!.write(JSON.stringify(m) + '\n'),
    async stop() {
      child.stdin!.end() // EOF: the server closes and exits
      const killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(killTimer)
    },
  }
}

const messages = (c: ReturnType<typeof makeClient>) => (fn: (m: ServerMessage) => void) => c.on('message', fn)

describe.each(['bun', 'deno'] as const)('createFetchHandler on %s', (runtime) => {
  let served: Served
  beforeAll(async () => {
    served = await serveOn(runtime)
  }, 120_000)
  afterAll(async () => {
    closeClients()
    await served?.stop()
  })

  it('serves SSE + POST to a Node client: hello, echo, broadcast', async () => {
    const c = makeClient(served.url, { transports: ['sse'] })
    await c.connect()
    expect(c.transport).toBe('sse')
    const echoed = waitFor(messages(c), (m) => m.type === 'echo' && m.text === `hi ${runtime}`, 15_000, 'echo')
    await c.send({ type: 'echo', text: `hi ${runtime}` })
    await echoed
    const ticked = waitFor(messages(c), (m) => m.type === 'tick' && m.n === 42, 15_000, 'broadcast')
    served.broadcast({ type: 'tick', n: 42 })
    await ticked
    c.close()
  })

  it('a WebSocket-first client falls back to SSE (the Fetch handler cannot upgrade) and works', async () => {
    const c = makeClient(served.url)
    await c.connect()
    expect(c.transport).toBe('sse')
    const echoed = waitFor(messages(c), (m) => m.type === 'echo' && m.text === 'after fallback', 15_000, 'echo')
    await c.send({ type: 'echo', text: 'after fallback' })
    await echoed
    c.close()
  })

  it('resumes the session after the stream drops: nothing broadcast meanwhile is lost', async () => {
    const proxy = await startProxy({ targetPort: served.port })
    try {
      const c = makeClient(`http://127.0.0.1:${proxy.port}/realtime`, { transports: ['sse'] })
      await c.connect()
      const seen: number[] = []
      c.onMessage('tick', (m) => seen.push(m.n))
      const reopened = waitFor<StatusEvent>((fn) => c.on('status', fn), (e) => e.status === 'open', 15_000, 'reopen')
      expect(proxy.dropAll()).toBeGreaterThan(0)
      served.broadcast({ type: 'tick', n: 1 })
      served.broadcast({ type: 'tick', n: 2 })
      await reopened
      const last = waitFor(messages(c), (m) => m.type === 'tick' && m.n === 3, 15_000, 'tick 3')
      served.broadcast({ type: 'tick', n: 3 })
      await last
      expect(seen).toEqual([1, 2, 3])
      c.close()
    } finally {
      await proxy.close()
    }
  })
})
