/**
 * The cluster rows of `npm run bench` (`npm run bench -- --only cluster`; issue #9): the in-memory
 * broker vs Redis with 1 process vs Redis with 3 processes, and socket.io with
 * @socket.io/redis-adapter on 1 and 3 processes. Needs `redis-server` (Debian: apt-get install -y
 * redis-server); it starts its own on a free loopback port with its own config and data dir.
 *
 * Per run and configuration, fresh processes (bench/cluster-server.ts, bundled like the other
 * workers) and a fresh key prefix:
 * - publish → receive latency: process 1 publishes 500 messages to a topic, one every 2 ms, each
 *   stamped; one subscriber on the LAST process (another one when there are 3) records arrival − stamp;
 * - fan-out: 1,000 WebSocket clients spread over the processes, 100 broadcasts from process 1 as
 *   fast as the stack takes them: deliveries / s from the command to the last delivery;
 * - POST round trip (surewire): an SSE stream on the last process, 200 POSTs of one message each on
 *   process 1 (another process than the stream when there are 3), one at a time;
 * - SIGKILL → first message (surewire, Redis, 3 processes): a RealtimeClient (default options)
 *   through a round-robin TCP balancer, subscribed to a topic published every 5 ms; its home
 *   process is killed once its connection has been up for `healthyAfterMs` (one crash, not a
 *   flapping server: the backoff is at its first step); the time from the kill to the first
 *   message on its new connection.
 * Clients are raw `ws` sockets speaking each stack's wire protocol (count only), so the figures
 * are the servers' and Redis's, not a client library's. Everything on 127.0.0.1.
 *
 * While iterating (the default is everything): SUREWIRE_BENCH_CLUSTER_ROWS=fanout,latency,post,kill
 * picks the measurements, SUREWIRE_BENCH_CLUSTER_CONFIGS=redis-3,io-redis-3 the configurations (keys
 * below), SUREWIRE_BENCH_CLUSTER_PROF=<dir> runs every server process with `node --cpu-prof` into
 * <dir>, and SUREWIRE_BENCH_CLUSTER_STATS=1 logs Redis's per-command time (INFO commandstats) per
 * fan-out run.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { createClient } from 'redis'
import { WebSocket } from 'ws'
import { RealtimeClient, clientDefaults } from '../src/index'
import { createRealtimeServer } from '../src/server/index'
import { createRedisBroker } from '../src/redis/index'
import { startBalancer } from '../test/support/balancer'
import { startRedis, type TestRedis } from '../test/support/redis-server'
import { passthrough, summarize } from './suite/shared'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BUILD_DIR = join(ROOT, 'node_modules/.cache/surewire-bench')
const CLIENTS = 1_000
const BROADCASTS = 100
const LATENCY_N = 500
const POSTS = 200
const KILLS_PER_RUN = 5
const STEP_TIMEOUT_MS = 60_000

type Stack = 'surewire' | 'socketio'
interface Config {
  key: string
  label: string
  stack: Stack
  broker: 'memory' | 'redis'
  processes: number
}
const CONFIGS: Config[] = [
  { key: 'memory-1', label: 'surewire, in-memory broker, 1 process', stack: 'surewire', broker: 'memory', processes: 1 },
  { key: 'redis-1', label: 'surewire, Redis, 1 process', stack: 'surewire', broker: 'redis', processes: 1 },
  { key: 'redis-3', label: 'surewire, Redis, 3 processes', stack: 'surewire', broker: 'redis', processes: 3 },
  { key: 'io-redis-1', label: 'socket.io + @socket.io/redis-adapter, 1 process', stack: 'socketio', broker: 'redis', processes: 1 },
  { key: 'io-redis-3', label: 'socket.io + @socket.io/redis-adapter, 3 processes', stack: 'socketio', broker: 'redis', processes: 3 },
]

const envList = (name: string) => process.env[name]?.split(',').filter(Boolean)
const MEASURE = new Set(envList('SUREWIRE_BENCH_CLUSTER_ROWS') ?? ['latency', 'fanout', 'post', 'kill'])
const ONLY_CONFIGS = envList('SUREWIRE_BENCH_CLUSTER_CONFIGS')
const PROF_DIR = process.env.SUREWIRE_BENCH_CLUSTER_PROF
const STATS = process.env.SUREWIRE_BENCH_CLUSTER_STATS === '1'
/** Where the STATS lines go (clusterSection's `log`). */
let log: (line: string) => void = () => {}

const stamp = () => performance.timeOrigin + performance.now()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
function bounded<T>(p: Promise<T>, what: string, ms = STEP_TIMEOUT_MS): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`cluster bench: ${what} took over ${ms} ms`)), ms)))]).finally(() => clearTimeout(t))
}

// ------------------------------------------------------------------ server processes

class Proc {
  child!: ChildProcess
  port = 0
  #calls = 0
  #pending = new Map<number, (err?: string) => void>()
  constructor(private readonly env: Record<string, string>) {}

  async start(): Promise<void> {
    const execArgv = PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROF_DIR] : []
    const child = fork(join(BUILD_DIR, 'cluster-server.mjs'), [], { execArgv, env: { ...process.env, ...this.env, PORT: String(this.port) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    this.child = child
    live.add(child)
    child.once('exit', () => live.delete(child))
    this.port = await bounded(
      new Promise<number>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`cluster bench: a server exited (${code}) before listening`)))
        child.on('message', (m: { ev: string; port?: number; id?: number; error?: string }) => {
          if (m.ev === 'listening') resolve(m.port!)
          else if (m.ev === 'done') this.#pending.get(m.id!)?.(m.error)
        })
      }),
      'a server to start',
    )
  }

  call(cmd: Record<string, unknown>): Promise<void> {
    const id = ++this.#calls
    return bounded(
      new Promise<void>((resolve, reject) => {
        this.#pending.set(id, (err) => (this.#pending.delete(id), err ? reject(new Error(err)) : resolve()))
        this.child.send({ ...cmd, id })
      }),
      `command ${String(cmd.cmd)}`,
    )
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()))
    this.child.kill(signal)
    await gone
  }
}
const live = new Set<ChildProcess>()
process.once('exit', () => live.forEach((c) => c.kill('SIGKILL')))

async function startProcs(config: Config, redis: TestRedis, prefix: string): Promise<Proc[]> {
  const env = { STACK: config.stack, BROKER: config.broker, REDIS_URL: redis.url, PREFIX: prefix }
  const procs = Array.from({ length: config.processes }, () => new Proc(env))
  await Promise.all(procs.map((p) => p.start()))
  return procs
}

// ------------------------------------------------------------------ raw clients

interface RawClient {
  ws: WebSocket
  /** Resolves when the client may receive (surewire: hello; socket.io: namespace connected). */
  ready: Promise<void>
  subscribe(topic: string): Promise<void>
  onDelivery(fn: (text: string) => void): void
  /** The `t` stamp of a delivery. */
  stampOf(text: string): number
}

function rawClient(stack: Stack, port: number): RawClient {
  const url = stack === 'surewire' ? `ws://127.0.0.1:${port}/realtime?v=1` : `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`
  const ws = new WebSocket(url, { perMessageDeflate: false })
  let deliver: (text: string) => void = () => {}
  let control: (text: string) => void = () => {}
  const isDelivery = stack === 'surewire' ? (t: string) => t.startsWith('{"t":"msg"') : (t: string) => t.startsWith('42')
  ws.on('message', (data: Buffer) => {
    const text = data.toString()
    if (isDelivery(text)) return deliver(text)
    if (stack === 'socketio') {
      if (text === '2') return ws.send('3') // engine.io ping
      if (text.startsWith('0')) ws.send('40')
    }
    control(text)
  })
  const wait = (pred: (t: string) => boolean) => new Promise<void>((resolve) => (control = (t) => pred(t) && resolve()))
  const ready = bounded(wait(stack === 'surewire' ? (t) => t.startsWith('{"t":"hello"') : (t) => t.startsWith('40')), 'a client to connect')
  ws.on('error', () => {})
  return {
    ws,
    ready,
    async subscribe(topic) {
      const acked = wait(stack === 'surewire' ? (t) => t.startsWith('{"t":"ack"') : (t) => t.startsWith('430'))
      ws.send(stack === 'surewire' ? JSON.stringify({ t: 'sub', seq: 1, topic }) : `420${JSON.stringify(['sub', topic])}`)
      await bounded(acked, 'a subscription')
    },
    onDelivery: (fn) => (deliver = fn),
    stampOf: (text) => (stack === 'surewire' ? (JSON.parse(text) as { d: { t: number } }).d.t : (JSON.parse(text.slice(2)) as [string, { t: number }])[1].t),
  }
}

// ------------------------------------------------------------------ measurements

async function latency(config: Config, procs: Proc[]): Promise<number[]> {
  const c = rawClient(config.stack, procs.at(-1)!.port)
  await c.ready
  await c.subscribe('lat')
  const out: number[] = []
  c.onDelivery((text) => out.push(stamp() - c.stampOf(text)))
  await procs[0]!.call({ cmd: 'paced', count: LATENCY_N, gapMs: 2, topic: 'lat' })
  await bounded((async () => { while (out.length < LATENCY_N) await sleep(5) })(), 'the last latency message')
  c.ws.terminate()
  return out
}

/** CPU time (ms) a process has used so far, from /proc (Linux; 0 elsewhere). */
function cpuMs(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100 // utime + stime, in USER_HZ (100)
  } catch {
    return 0
  }
}

async function fanout(config: Config, procs: Proc[], redisPid?: number): Promise<number> {
  const clients: RawClient[] = []
  for (let i = 0; i < CLIENTS; i += 50) {
    const batch = Array.from({ length: Math.min(50, CLIENTS - i) }, (_, j) => rawClient(config.stack, procs[(i + j) % procs.length]!.port))
    await Promise.all(batch.map((c) => c.ready))
    clients.push(...batch)
  }
  const total = CLIENTS * BROADCASTS
  let got = 0
  let last = 0
  for (const c of clients) c.onDelivery(() => ((got += 1), (last = stamp())))
  const pids = [...procs.map((p) => p.child.pid), redisPid]
  const cpu0 = pids.map(cpuMs)
  const start = stamp()
  await procs[0]!.call({ cmd: 'fanout', count: BROADCASTS })
  await bounded((async () => { while (got < total) await sleep(5) })(), `${total} deliveries (got ${got})`)
  if (STATS) {
    const used = pids.map((pid, i) => cpuMs(pid) - cpu0[i]!)
    const servers = used.slice(0, -1).reduce((a, b) => a + b, 0)
    log(`  cpu µs per delivery: servers ${fmt((servers * 1000) / total, 2)}, redis ${fmt((used.at(-1)! * 1000) / total, 2)} (${used.map((u) => fmt(u, 0)).join(' / ')} ms)`)
  }
  for (const c of clients) c.ws.terminate()
  return total / ((last - start) / 1000)
}

/** An SSE stream on `streamPort`, then POSTs on `postPort`, one at a time: ms per round trip. */
async function postRtt(streamPort: number, postPort: number): Promise<number[]> {
  const ac = new AbortController()
  const res = await fetch(`http://127.0.0.1:${streamPort}/realtime?v=1`, { headers: { accept: 'text/event-stream' }, signal: ac.signal })
  const reader = res.body!.getReader()
  let text = ''
  while (!/"sid":"([^"]+)"/.test(text)) text += new TextDecoder().decode((await reader.read()).value)
  const sid = /"sid":"([^"]+)"/.exec(text)![1]!
  void (async () => { for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return })()
  const out: number[] = []
  for (let seq = 1; seq <= POSTS; seq++) {
    const t0 = stamp()
    const r = await fetch(`http://127.0.0.1:${postPort}/realtime?v=1&sid=${sid}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ t: 'msg', seq, d: { type: 'echo', n: seq } }]) })
    const body = await r.text()
    if (r.status !== 200 || !body.includes('"ack"')) throw new Error(`cluster bench: POST answered ${r.status} ${body.slice(0, 120)}`)
    out.push(stamp() - t0)
  }
  ac.abort()
  return out
}

/** SIGKILL the home of a subscribed RealtimeClient (through a round-robin balancer): ms to the first message on its new connection. */
async function killToFirstMessage(redis: TestRedis, prefix: string): Promise<number[]> {
  const config = CONFIGS.find((c) => c.key === 'redis-3')!
  const procs = await startProcs(config, redis, prefix)
  const lb = await startBalancer(procs.map((p) => p.port))
  const publisher = createRealtimeServer({ incoming: passthrough, outgoing: passthrough, broker: await createRedisBroker({ url: redis.url, keyPrefix: prefix }) })
  publisher.on('error', () => {})
  let publishing = true
  const pub = (async () => {
    for (let n = 1; publishing; n++) {
      await publisher.publish('kill', { type: 'tick', n }).catch(() => {})
      await sleep(5)
    }
  })()
  const client = new RealtimeClient({ url: lb.url('/realtime'), incoming: passthrough, outgoing: passthrough, WebSocket: WebSocket as never, transports: ['websocket'], storage: null, lifecycle: null })
  const out: number[] = []
  try {
    let onMsg: () => void = () => {}
    let onOpen: () => void = () => {}
    client.on('message', () => onMsg())
    client.on('status', (e) => e.status === 'open' && onOpen())
    await bounded(client.connect(), 'the kill client to connect')
    await bounded(client.subscribe('kill'), 'the kill client to subscribe')
    for (let i = 0; i < KILLS_PER_RUN; i++) {
      // One crash as a deployment sees it: the connection has been up for healthyAfterMs, so the client's
      // backoff is back at its first step. Without this the kills come every ~1 s, each reconnect is the
      // next backoff step (ceilings 0.5, 1, 2, 4, 8 s) and the row measures the backoff, not the failover.
      await sleep(clientDefaults.healthyAfterMs + 500)
      await bounded(new Promise<void>((r) => (onMsg = r)), 'a message before the kill')
      const home = procs.find((p) => p.port === lb.routed.at(-1))!
      const first = new Promise<number>((resolve) => (onOpen = () => (onMsg = () => ((onMsg = () => {}), resolve(stamp()))))).then((t) => t)
      const t0 = stamp()
      await home.kill()
      out.push((await bounded(first, 'the first message after a kill')) - t0)
      onOpen = () => {}
      await home.start() // same port
    }
  } finally {
    client.close()
    publishing = false
    await pub
    await publisher.close()
    await lb.close()
    await Promise.all(procs.map((p) => p.kill('SIGTERM')))
  }
  return out
}

/** redis-server's pid (INFO server). */
async function serverPid(redis: TestRedis): Promise<number> {
  const c = createClient({ url: redis.url })
  await c.connect()
  try {
    return Number(/process_id:(\d+)/.exec(String(await c.sendCommand(['INFO', 'server'])))?.[1])
  } finally {
    await c.disconnect()
  }
}

/** Redis's INFO commandstats: calls and µs per command. */
async function commandStats(redis: TestRedis): Promise<Map<string, { calls: number; usec: number }>> {
  const c = createClient({ url: redis.url })
  await c.connect()
  try {
    const out = new Map<string, { calls: number; usec: number }>()
    for (const m of String(await c.sendCommand(['INFO', 'commandstats'])).matchAll(/cmdstat_(\S+?):calls=(\d+),usec=(\d+)/g)) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) })
    return out
  } finally {
    await c.disconnect()
  }
}

function statsDelta(a: Map<string, { calls: number; usec: number }>, b: Map<string, { calls: number; usec: number }>): string {
  const rows = [...b].map(([k, v]) => ({ k, calls: v.calls - (a.get(k)?.calls ?? 0), usec: v.usec - (a.get(k)?.usec ?? 0) })).filter((r) => r.calls > 0)
  rows.sort((x, y) => y.usec - x.usec)
  return '  redis: ' + rows.map((r) => `${r.k} ${r.calls} calls ${fmt(r.usec / 1000, 0)} ms`).join(', ')
}

// ------------------------------------------------------------------ the section

const pct = (v: number[], p: number) => {
  const s = [...v].sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN
}
const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–')

export interface ClusterFigures {
  deliveries: Record<string, number[]>
}

/** Run the cluster rows `runs` times (interleaved by configuration); returns the markdown section and the figures. */
export async function clusterSection(runs: number, logLine: (line: string) => void): Promise<{ markdown: string[]; figures: ClusterFigures }> {
  log = logLine
  await build({ entryPoints: { 'cluster-server': join(ROOT, 'bench/cluster-server.ts') }, outdir: BUILD_DIR, outExtension: { '.js': '.mjs' }, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning' })
  const redis = await startRedis()
  const redisPid = STATS ? await serverPid(redis) : undefined
  const lat: Record<string, number[]> = {}
  const del: Record<string, number[]> = {}
  const post: Record<string, number[]> = {}
  const kills: number[] = []
  let prefixes = 0
  try {
    for (let run = 1; run <= runs; run++) {
      for (const config of CONFIGS.filter((c) => !ONLY_CONFIGS || ONLY_CONFIGS.includes(c.key))) {
        const procs = await startProcs(config, redis, `bench${process.pid}-${++prefixes}:`)
        try {
          if (MEASURE.has('latency')) (lat[config.key] ??= []).push(...(await latency(config, procs)))
          if (MEASURE.has('fanout')) {
            const before = STATS ? await commandStats(redis) : undefined
            ;(del[config.key] ??= []).push(await fanout(config, procs, redisPid))
            log(`cluster run ${run}/${runs} ${config.key}: ${fmt(del[config.key]!.at(-1)!, 0)} deliveries/s`)
            if (before) log(statsDelta(before, await commandStats(redis)))
          }
          if (MEASURE.has('post') && config.stack === 'surewire') (post[config.key] ??= []).push(...(await postRtt(procs.at(-1)!.port, procs[0]!.port)))
        } finally {
          await Promise.all(procs.map((p) => p.kill('SIGTERM')))
        }
      }
      if (MEASURE.has('kill')) {
        kills.push(...(await killToFirstMessage(redis, `bench${process.pid}-${++prefixes}:`)))
        log(`cluster run ${run}/${runs}: kill → first message ${kills.slice(-KILLS_PER_RUN).map((k) => fmt(k, 0)).join(', ')} ms`)
      }
    }
  } finally {
    await redis.close()
  }
  const rows = CONFIGS.map((c) => {
    const d = summarize(del[c.key] ?? [])
    const p = post[c.key]
    const k = c.key === 'redis-3' ? `${fmt(pct(kills, 50), 0)} / ${fmt(pct(kills, 95), 0)}` : 'n/a'
    return `| ${c.label} | ${fmt(pct(lat[c.key] ?? [], 50), 2)} / ${fmt(pct(lat[c.key] ?? [], 99), 2)} | ${fmt(d.median, 0)} (${fmt(d.min, 0)}–${fmt(d.max, 0)}) | ${p ? `${fmt(pct(p, 50), 2)} / ${fmt(pct(p, 99), 2)}` : 'n/a'} | ${k} |`
  })
  const markdown = [
    '## More than one process (issue #9)',
    '',
    `Each configuration in fresh processes per run (${runs} runs, interleaved), one redis-server 7 of the bench's own (AOF, \`appendfsync always\`), raw \`ws\` clients speaking each stack's protocol. Latency: ${LATENCY_N} topic messages from process 1, one every 2 ms, to one subscriber on the last process; p50 / p99 over all runs, ms. Fan-out: ${CLIENTS.toLocaleString('en-US')} WebSocket clients spread over the processes, ${BROADCASTS} broadcasts from process 1 as fast as the stack takes them; deliveries/s from the command to the last delivery, median (min–max) over the runs. POST round trip: an SSE stream on the last process and ${POSTS} one-message POSTs, one at a time, on process 1 (another process when there are 3), p50 / p99 ms. SIGKILL → first message: a RealtimeClient with default options through a round-robin balancer, subscribed to a topic published every 5 ms; its home is killed (${KILLS_PER_RUN} per run, each once its connection has been up for \`healthyAfterMs\` so the backoff is at its first step: 0–500 ms) and the time to the first message on its new connection is taken, p50 / p95 ms over ${kills.length} kills. socket.io's guarantees differ: no replay, no acks, no resume across processes.`,
    '',
    '| configuration | publish → receive p50 / p99 (ms) | fan-out deliveries/s, 1,000 clients | POST on another process p50 / p99 (ms) | SIGKILL → first message p50 / p95 (ms) |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `Target: surewire on Redis with 3 processes delivers at least as many messages per second as socket.io + redis-adapter with 3: ${fmt(summarize(del['redis-3'] ?? []).median, 0)} vs ${fmt(summarize(del['io-redis-3'] ?? []).median, 0)} deliveries/s, **${summarize(del['redis-3'] ?? []).median >= summarize(del['io-redis-3'] ?? []).median ? 'met' : 'missed'}**.`,
    '',
  ]
  return { markdown, figures: { deliveries: del } }
}
