/**
 * A redis-server of our own for the Redis suite: a free loopback port (found by binding port 0
 * first), its own config and data directory in a temp dir, in the foreground, stopped by PID.
 * Never the system service. AOF with `appendfsync always`, the durability the guarantees in
 * docs/RELIABILITY.md assume, so a stop/start keeps the streams.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

export interface TestRedis {
  readonly port: number
  readonly url: string
  /** Stop (SIGTERM, waits for exit). */
  stop(): Promise<void>
  /** Start again on the same port and data directory. */
  start(): Promise<void>
  /** Stop and remove the data directory. */
  close(): Promise<void>
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const start = Date.now()
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => (s.end(), r(true)))
      s.once('error', () => r(false))
    })
    if (ok) return
    if (Date.now() - start > ms) throw new Error(`redis-server did not listen on ${port} within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'surewire-redis-'))
  const conf = join(dir, 'redis.conf')
  writeFileSync(
    conf,
    [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'appendonly yes', 'appendfsync always', 'save ""', 'daemonize no', 'protected-mode yes', 'loglevel warning', ''].join('\n'),
  )
  let child: ChildProcess | undefined
  let log = ''
  const start = async () => {
    const c = spawn('redis-server', [conf], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = c
    c.stdout!.on('data', (d) => (log = (log + d).slice(-4000)))
    c.stderr!.on('data', (d) => (log = (log + d).slice(-4000)))
    const exited = new Promise<never>((_, reject) => c.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${log}`))))
    await Promise.race([waitForPort(port, 15_000), exited])
    exited.catch(() => {})
  }
  const stop = async () => {
    const c = child
    child = undefined
    if (!c || c.exitCode !== null) return
    const done = new Promise<void>((r) => c.once('exit', () => r()))
    c.kill('SIGTERM')
    await done
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    async close() {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
