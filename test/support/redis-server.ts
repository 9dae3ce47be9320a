/**
 * A redis-server of our own for the Redis and cluster suites (and the cluster bench): a free
 * loopback port, its own config and data directory in a temp dir, in the foreground, stopped by
 * PID. Never the system service. AOF with `appendfsync always`, the durability the guarantees in
 * docs/RELIABILITY.md assume, so a stop/start keeps the streams.
 *
 * `useRedis()` is the per-file form: one server for the test file (vitest beforeAll / afterAll),
 * plus a list of cleanups run after each test, newest first.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { canConnect, freePort } from './daemon'

export { freePort } from './daemon'

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

export interface TestRedisOptions {
  /** More redis.conf lines (e.g. `client-output-buffer-limit pubsub 64kb 32kb 1`). */
  config?: string[]
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const start = Date.now()
  while (!(await canConnect(port))) {
    if (Date.now() - start > ms) throw new Error(`redis-server did not listen on ${port} within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

export async function startRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'surewire-redis-'))
  const conf = join(dir, 'redis.conf')
  const lines = [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'appendonly yes', 'appendfsync always', 'save ""', 'daemonize no', 'protected-mode yes', 'loglevel warning']
  writeFileSync(conf, [...lines, ...(options.config ?? []), ''].join('\n'))
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

export interface RedisFixture {
  /** The file's redis-server (set once beforeAll ran). */
  readonly redis: TestRedis
  /** Run `fn` after the current test (newest first). */
  cleanup(fn: () => unknown): void
}

/** One redis-server for this test file, and per-test cleanups. Call at the top level of a test file. */
export function useRedis(options: TestRedisOptions = {}): RedisFixture {
  let redis: TestRedis | undefined
  const cleanups: (() => unknown)[] = []
  beforeAll(async () => {
    redis = await startRedis(options)
  })
  afterAll(async () => {
    await redis?.close()
  })
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
  })
  return {
    get redis() {
      if (!redis) throw new Error('useRedis: the redis-server is not started yet (use it inside a test or hook)')
      return redis
    },
    cleanup: (fn) => void cleanups.push(fn),
  }
}
