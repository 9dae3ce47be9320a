/**
 * The multi-process harness: a redis-server of its own (test/redis/redis-server.ts), N
 * reference-server CHILD processes (./fixtures/node-server.ts) sharing it through
 * createRedisBroker, real nginx with a plain round-robin `upstream` of them (./upstream.conf),
 * and an in-process publisher (a RealtimeServer on the same broker, serving nothing) that
 * stands for "any other process" publishing.
 *
 * A node can be killed (SIGKILL) and started again on the same port (nginx's upstream is a list
 * of ports), or drained. What the nodes report (connections, handled `count` messages, errors)
 * is collected here in arrival order.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { RealtimeClient, fullJitterBackoff, type ClientOptions, type StatusEvent } from '../../src'
import { createRealtimeServer, type RealtimeServer } from '../../src/server'
import { createRedisBroker } from '../../src/redis'
import { ClientMessage, ServerMessage } from '../support/schemas'
import { TestWebSocket, until } from '../support/servers'
import type { Nginx } from '../support/nginx'
import { startRedis, type TestRedis } from '../support/redis-server'
import { startNginxUpstream } from './nginx-upstream'

const fixture = fileURLToPath(new URL('./fixtures/node-server.ts', import.meta.url))

export interface Handled {
  node: string
  /** conn.id of the session. */
  id: string
  /** conn.inboundSeq: with `id`, the de-duplication key of one client message. */
  seq: number
  n: number
}

type Reply = { ev: 'reply'; id: number; value?: unknown; error?: string }
type Report =
  | { ev: 'listening'; port: number }
  | { ev: 'connection'; id: string; adopted: boolean }
  | { ev: 'count'; id: string; seq: number; n: number }
  | { ev: 'error'; code?: string; message: string }
  | Reply

export class ClusterNode {
  port = 0
  child: ChildProcess | undefined
  readonly errors: { code?: string; message: string }[] = []
  readonly connections: { id: string; adopted: boolean }[] = []
  #stderr = ''
  #calls = 0
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()

  constructor(
    readonly name: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly onCount: (h: Handled) => void,
  ) {}

  get alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null
  }

  /** Start (again, on the same port once it has one); resolves when it listens. */
  async start(): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, ...this.env, SUREWIRE_NAME: this.name, PORT: String(this.port) },
    })
    this.child = child
    running.add(child)
    child.stderr!.on('data', (d: Buffer) => (this.#stderr = (this.#stderr + d.toString()).slice(-8_000)))
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) => {
        running.delete(child)
        for (const p of this.#pending.values()) p.reject(new Error(`${this.name} exited (${code ?? signal})`))
        this.#pending.clear()
        reject(new Error(`${this.name} exited (${code ?? signal}) before listening: ${this.#stderr}`))
      }),
    )
    exited.catch(() => {})
    const listening = new Promise<number>((resolve) => {
      child.on('message', (m: Report) => {
        if (m.ev === 'listening') resolve(m.port)
        else if (m.ev === 'count') this.onCount({ node: this.name, id: m.id, seq: m.seq, n: m.n })
        else if (m.ev === 'connection') this.connections.push({ id: m.id, adopted: m.adopted })
        else if (m.ev === 'error') this.errors.push({ code: m.code, message: m.message })
        else if (m.ev === 'reply') {
          const p = this.#pending.get(m.id)
          this.#pending.delete(m.id)
          if (m.error) p?.reject(new Error(`${this.name}: ${m.error}`))
          else p?.resolve(m.value)
        }
      })
    })
    this.port = await Promise.race([listening, exited, timeout(60_000, `${this.name} to listen`)])
  }

  /** SIGKILL, and wait until it is gone. */
  async kill(): Promise<void> {
    const c = this.child
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    const gone = new Promise<void>((r) => c.once('exit', () => r()))
    c.kill('SIGKILL')
    await gone
  }

  /** SIGTERM (SIGKILL after 5 s), and wait until it is gone. */
  async stop(): Promise<void> {
    const c = this.child
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    const gone = new Promise<void>((r) => c.once('exit', () => r()))
    c.kill('SIGTERM')
    const t = setTimeout(() => c.kill('SIGKILL'), 5_000)
    await gone
    clearTimeout(t)
  }

  /** Wait for the process to exit by itself (after a drain). */
  exited(ms = 60_000): Promise<void> {
    const c = this.child
    if (!c || c.exitCode !== null || c.signalCode !== null) return Promise.resolve()
    return Promise.race([new Promise<void>((r) => c.once('exit', () => r())), timeout(ms, `${this.name} to exit`)])
  }

  call(cmd: Record<string, unknown>, ms = 120_000): Promise<unknown> {
    const id = ++this.#calls
    return Promise.race([
      new Promise((resolve, reject) => {
        this.#pending.set(id, { resolve, reject })
        this.child!.send({ ...cmd, id })
      }),
      timeout(ms, `${this.name} to answer ${String(cmd.cmd)}`),
    ])
  }

  /** Broadcast (or publish to `topic`) ticks from..to from this process; resolves when all resolved. */
  broadcast(from: number, to: number, topic?: string): Promise<unknown> {
    return this.call({ cmd: 'broadcast', from, to, ...(topic === undefined ? {} : { topic }) })
  }

  /** realtime.drain({ windowMs }) in the process; it exits once the drain resolved. */
  drain(windowMs: number): Promise<unknown> {
    return this.call({ cmd: 'drain', windowMs })
  }

  stderr(): string {
    return this.#stderr
  }
}

/** Children still running are killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL')
})

function timeout(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
    t.unref?.()
  })
}

type Publisher = RealtimeServer<typeof ClientMessage, typeof ServerMessage>

export interface Cluster {
  redis: TestRedis
  nodes: ClusterNode[]
  nginx: Nginx
  /** The realtime URL through nginx. */
  url: string
  /** A RealtimeServer in this test process on the same Redis (publishes like any process). */
  publisher: Publisher
  /** Every `count` message a node's handler ran, in arrival order. */
  handled: Handled[]
  prefix: string
  stop(): Promise<void>
}

let clusters = 0

export async function startCluster(n = 3): Promise<Cluster> {
  const redis = await startRedis()
  const prefix = `c${process.pid}-${++clusters}:`
  const handled: Handled[] = []
  const env = { SUREWIRE_REDIS_URL: redis.url, SUREWIRE_PREFIX: prefix }
  const nodes = Array.from({ length: n }, (_, i) => new ClusterNode(`node${i + 1}`, env, (h) => handled.push(h)))
  const stops: (() => Promise<unknown>)[] = [() => redis.close()]
  try {
    await Promise.all(nodes.map((x) => x.start()))
    stops.unshift(() => Promise.all(nodes.map((x) => x.stop())))
    const nginx = await startNginxUpstream(nodes.map((x) => x.port))
    stops.unshift(() => nginx.stop())
    const broker = await createRedisBroker({ url: redis.url, keyPrefix: prefix, blockMs: 1_000 })
    const publisher = createRealtimeServer({ incoming: ClientMessage, outgoing: ServerMessage, broker })
    publisher.on('error', () => {}) // outages are asserted on the nodes and by the publish() outcomes
    stops.unshift(() => publisher.close())
    return {
      redis,
      nodes,
      nginx,
      url: nginx.url('/realtime'),
      publisher,
      handled,
      prefix,
      async stop() {
        for (const s of stops) await s().catch(() => {})
      },
    }
  } catch (err) {
    for (const s of stops) await s().catch(() => {})
    throw err
  }
}

export type Client = RealtimeClient<typeof ServerMessage, typeof ClientMessage>

/**
 * A client through nginx that records everything the checks need: the ticks it got (`got`), its
 * resets, its status changes, the home processes its `whoami`s were answered by.
 */
export interface Tracked {
  c: Client
  got: number[]
  resets: string[]
  statuses: StatusEvent[]
  homes: string[]
  errors: string[]
  /** Ask which process is this session's home; resolves with its name. */
  whoami(ms?: number): Promise<string>
}

export function trackedClient(url: string, transport: 'websocket' | 'sse', opts: Partial<ClientOptions<typeof ServerMessage, typeof ClientMessage>> = {}): Tracked {
  const c: Client = new RealtimeClient({
    url,
    incoming: ServerMessage,
    outgoing: ClientMessage,
    WebSocket: TestWebSocket,
    transports: [transport],
    storage: null,
    lifecycle: null,
    backoff: fullJitterBackoff(20, 500),
    connectTimeoutMs: 5_000,
    pingIntervalMs: 1_000,
    pongTimeoutMs: 3_000,
    ...opts,
  })
  const t: Tracked = {
    c,
    got: [],
    resets: [],
    statuses: [],
    homes: [],
    errors: [],
    async whoami(ms = 30_000) {
      const before = t.homes.length
      await c.send({ type: 'chat', text: 'whoami' })
      await until(() => t.homes.length > before, ms, 'the whoami answer')
      return t.homes.at(-1)!
    },
  }
  c.onMessage('tick', (m) => t.got.push(m.n))
  c.onMessage('chat', (m) => m.text === 'whoami' && t.homes.push(m.from))
  c.on('reset', (e) => t.resets.push(e.reason))
  c.on('status', (e) => t.statuses.push(e))
  c.on('error', (e) => t.errors.push(`${e.name}: ${e.message}`))
  return t
}

/** Client `k` numbers its `count` messages k × COUNT_BASE + i, so the handled ones can be told apart by sender. */
export const COUNT_BASE = 1_000_000

/**
 * The `count` messages client `k` sent that the nodes' handlers ran, de-duplicated by
 * (conn.id, inboundSeq) as docs/RELIABILITY.md tells apps to, in handling order, as 1-based
 * indexes; `repeats`: handler runs that key removed (a crash between a handler and its commit).
 */
export function handledFrom(handled: Handled[], k: number): { ns: number[]; repeats: number } {
  const seen = new Set<string>()
  const ns: number[] = []
  let repeats = 0
  for (const h of handled) {
    if (Math.floor(h.n / COUNT_BASE) !== k) continue
    const key = `${h.id}:${h.seq}`
    if (seen.has(key)) repeats++
    else (seen.add(key), ns.push(h.n - k * COUNT_BASE))
  }
  return { ns, repeats }
}
