/**
 * `npm run bench`: surewire side by side with socket.io and raw ws / raw SSE.
 *
 * The server worker (bench/suite/server.ts) runs in one process for the whole
 * suite; every client measurement runs in a fresh process (bench/suite/client.ts),
 * so client CPU time and heap are the client's alone. Everything on 127.0.0.1.
 * Both workers are bundled to plain .mjs first (see buildWorkers).
 * Runs of different stacks are interleaved (run 1 of each, then run 2 of each…)
 * so drift on a busy machine spreads over all of them. Writes bench/RESULTS.md.
 *
 *   npm run bench                          the whole suite, 3 runs each
 *   npm run bench -- --runs 5              more runs
 *   npm run bench -- --only push,rtt       some sections (push c2s rtt rtt-alone connect heap server-heap broadcast validate bundle cluster)
 *   npm run bench -- --prof                also write client (and solo server) --cpu-prof profiles to bench/profiles/
 *   npm run bench -- --rows raw-ws,surewire-ws   only these rows of each section (A/B while profiling)
 *   npm run bench -- --out /tmp/x.md       write the results elsewhere
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { arch, cpus, platform, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { clientDefaults } from '../src/index'
import { bundleSizes, type BundleSize } from './suite/bundle'
import { clusterSection } from './cluster'
import { buildBenchWorkers, startFleet, startSolo, until, type Fleet } from './suite/procs'
import { summarize, type FleetImpl, type RttImpl, type SoloStack, type ServerPorts, type Summary, type Task, type TaskResult } from './suite/shared'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SUITE = join(ROOT, 'bench/suite')
const SECTIONS = ['push', 'c2s', 'rtt', 'rtt-alone', 'connect', 'heap', 'server-heap', 'broadcast', 'validate', 'bundle', 'cluster'] as const
type Section = (typeof SECTIONS)[number]

// ------------------------------------------------------------------ arguments

function argValue(name: string): string | undefined {
  const argv = process.argv.slice(2)
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`))
  if (i < 0) return undefined
  return argv[i]!.includes('=') ? argv[i]!.split('=').slice(1).join('=') : (argv[i + 1] ?? '')
}
const RUNS = Number(argValue('runs') ?? 3)
if (!Number.isInteger(RUNS) || RUNS < 1 || RUNS > 20) {
  console.error('--runs must be an integer from 1 to 20')
  process.exit(2)
}
const ONLY = (argValue('only')?.split(',') ?? SECTIONS) as Section[]
for (const s of ONLY) {
  if (!SECTIONS.includes(s)) {
    console.error(`unknown section ${JSON.stringify(s)}; sections: ${SECTIONS.join(' ')}`)
    process.exit(2)
  }
}
const ROWS = argValue('rows')?.split(',')
/** `--rows a,b`: only the rows with these keys (for A/B runs while profiling). */
const pick = <T extends { key: string }>(rows: T[]): T[] => (ROWS ? rows.filter((r) => ROWS.includes(r.key)) : rows)
const PROF = process.argv.includes('--prof')
const OUT = argValue('out') ?? join(ROOT, 'bench/RESULTS.md')
const PROF_DIR = join(ROOT, 'bench/profiles')

// ------------------------------------------------------------------ workers

const BUILD_DIR = join(ROOT, 'node_modules/.cache/surewire-bench')
const buildWorkers = () => buildBenchWorkers(SUITE, BUILD_DIR)

function startServer(): Promise<{ proc: ChildProcess; ports: ServerPorts; request: (cmd: 'cpu' | 'proxyStats' | 'exit') => Promise<unknown> }> {
  const proc = fork(join(BUILD_DIR, 'server.mjs'), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  let nextId = 1
  let exited: Error | undefined
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => {
      exited = new Error(`bench server exited (${code})`)
      reject(exited) // before ready; a no-op after
      for (const p of pending.values()) p.reject(exited)
      pending.clear()
    })
    proc.on('message', (m: { ready?: ServerPorts; id?: number; result?: unknown }) => {
      if (m.ready) {
        resolve({
          proc,
          ports: m.ready,
          request: (cmd) =>
            new Promise((res, rej) => {
              if (exited) return rej(exited)
              const id = nextId++
              pending.set(id, { resolve: res, reject: rej })
              proc.send({ id, cmd })
            }),
        })
      } else if (m.id !== undefined) {
        pending.get(m.id)?.resolve(m.result)
        pending.delete(m.id)
      }
    })
  })
}

let profCount = 0

/** Run one task in a fresh client process. */
function runClient(ports: ServerPorts, task: Task, limitMs = 120_000): Promise<TaskResult> {
  const execArgv: string[] = []
  if (task.kind === 'heap') execArgv.push('--expose-gc')
  if (PROF) execArgv.push('--cpu-prof', `--cpu-prof-dir=${join(PROF_DIR, `${String(++profCount).padStart(3, '0')}-${task.kind}-${'impl' in task ? task.impl : ''}`)}`)
  const proc = fork(join(BUILD_DIR, 'client.mjs'), [JSON.stringify(task), JSON.stringify(ports)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    let result: TaskResult | undefined
    const timer = setTimeout(() => {
      proc.kill()
      reject(new Error(`client task timed out after ${limitMs} ms: ${JSON.stringify(task)}`))
    }, limitMs)
    proc.on('message', (m: TaskResult) => (result = m))
    proc.once('exit', (code) => {
      clearTimeout(timer)
      if (result) resolve(result)
      else reject(new Error(`client task failed (exit ${code}): ${JSON.stringify(task)}`))
    })
  })
}

// ------------------------------------------------------------------ formatting

const log = (s: string) => process.stderr.write(s + '\n')
const num = (v: number, digits: number) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–')
/** `median (min–max)` */
const spread = (s: Summary, digits: number) => (s.ok === 0 ? '–' : s.ok === 1 ? num(s.median, digits) : `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`)
const table = (head: string[], rows: string[][], align: ('l' | 'r')[]) =>
  [`| ${head.join(' | ')} |`, `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
const kb = (bytes: number) => `${(bytes / 1000).toFixed(2)} kB`

function versions(): string {
  const v = (name: string) => {
    try {
      return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
    } catch {
      return '?'
    }
  }
  const own = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
  return [
    `surewire ${own} (this checkout)`,
    ...['ws', 'eventsource-parser', 'socket.io', 'socket.io-client', 'engine.io', 'engine.io-client', 'zod', 'esbuild', 'tsx'].map((n) => `${n} ${v(n)}`),
  ].join(', ')
}

// ------------------------------------------------------------------ the suite

interface Figures {
  pushCpu: Record<string, Summary>
  pushRate: Record<string, Summary>
  c2sRate: Record<string, Summary>
  rttMedian: Record<string, Summary>
  connect: Record<string, { cold: Summary; warm: Summary }>
  rememberedUpgrades?: number
  heap: Record<string, Summary>
  rttAlone: Record<string, { median: Summary; p99: Summary }>
  serverHeap: Record<string, Summary>
  fanout: Record<string, { rate: Summary; cpu: Summary }>
  bundle?: { sizes: BundleSize[]; reactMissing: boolean }
}

const PUSH_N = 200_000
const C2S_N = 100_000
const UNBATCHED_N = 2_000
const RTT_N = 5_000
const HEAP_CLIENTS = 1_000
const CONNECT_LIMIT_MS = 5_000

const PUSH_ROWS = pick<{ key: string; label: string; task: Omit<Extract<Task, { kind: 'push' }>, 'n' | 'warm'> }>([
  { key: 'surewire-ws', label: 'surewire, WebSocket', task: { kind: 'push', impl: 'surewire-ws', schema: 'none' } },
  { key: 'surewire-sse', label: 'surewire, SSE', task: { kind: 'push', impl: 'surewire-sse', schema: 'none' } },
  { key: 'socketio-ws', label: 'socket.io, websocket transport', task: { kind: 'push', impl: 'socketio-ws', schema: 'none' } },
  { key: 'raw-ws', label: 'raw `ws` (JSON.parse per frame)', task: { kind: 'push', impl: 'raw-ws', schema: 'none' } },
  { key: 'raw-sse', label: 'raw SSE (fetch + eventsource-parser + JSON.parse)', task: { kind: 'push', impl: 'raw-sse', schema: 'none' } },
  { key: 'raw-ws-batched', label: 'raw `ws`, server corks per tick (reference)', task: { kind: 'push', impl: 'raw-ws-batched', schema: 'none' } },
  { key: 'raw-sse-batched', label: 'raw SSE, server writes once per tick (reference)', task: { kind: 'push', impl: 'raw-sse-batched', schema: 'none' } },
  { key: 'surewire-ws-zod', label: 'surewire, WebSocket, zod schema (measurement 6)', task: { kind: 'push', impl: 'surewire-ws', schema: 'zod' } },
])

const C2S_ROWS = pick<{ key: string; label: string; n: number; warm: number; impl: Extract<Task, { kind: 'c2s' }>['impl'] }>([
  { key: 'surewire-ws', label: 'surewire, WebSocket (acked, ≤ 1,000 in flight)', n: C2S_N, warm: 10_000, impl: 'surewire-ws' },
  { key: 'surewire-post', label: 'surewire, POST batched (SSE transport; acked, ≤ 1,000 in flight)', n: C2S_N, warm: 10_000, impl: 'surewire-post' },
  { key: 'surewire-post-unbatched', label: `surewire, one POST per message (each send awaited; ${UNBATCHED_N.toLocaleString('en-US')} messages)`, n: UNBATCHED_N, warm: 200, impl: 'surewire-post-unbatched' },
  { key: 'socketio-ws', label: 'socket.io, websocket transport (no acks)', n: C2S_N, warm: 10_000, impl: 'socketio-ws' },
  { key: 'raw-ws', label: 'raw `ws` (no acks)', n: C2S_N, warm: 10_000, impl: 'raw-ws' },
])

const RTT_ROWS = pick<{ key: string; label: string; impl: RttImpl }>([
  { key: 'surewire-ws', label: 'surewire, WebSocket', impl: 'surewire-ws' },
  { key: 'socketio-ws', label: 'socket.io, websocket transport', impl: 'socketio-ws' },
  { key: 'raw-ws', label: 'raw `ws`', impl: 'raw-ws' },
  { key: 'surewire-sse', label: 'surewire, SSE + POST', impl: 'surewire-sse' },
])

const HEAP_ROWS = pick<{ key: string; label: string; impl: Extract<Task, { kind: 'heap' }>['impl'] }>([
  { key: 'surewire-ws', label: 'surewire, WebSocket (`ws`)', impl: 'surewire-ws' },
  { key: 'surewire-sse', label: 'surewire, SSE (Node fetch)', impl: 'surewire-sse' },
  { key: 'socketio-default', label: 'socket.io-client, default (polling, upgraded to websocket)', impl: 'socketio-default' },
  { key: 'socketio-ws', label: "socket.io-client, transports: ['websocket']", impl: 'socketio-ws' },
  { key: 'raw-ws', label: 'raw `ws`', impl: 'raw-ws' },
])

type ConnectImplName = Extract<Task, { kind: 'connect' }>['impl']
const CONNECT_ROWS = pick<{ key: string; label: string; impl: ConnectImplName; modes: ('pass' | 'refuse' | 'hang')[] }>([
  { key: 'surewire', label: 'surewire, default options', impl: 'surewire', modes: ['pass', 'refuse', 'hang'] },
  { key: 'surewire-remembered', label: 'surewire, refusal remembered (cold: storage file from a previous process; warm: same process)', impl: 'surewire-remembered', modes: ['refuse'] },
  { key: 'surewire-sse', label: "surewire, transports: ['sse'] (direct SSE connect)", impl: 'surewire-sse', modes: ['pass'] },
  { key: 'socketio-default', label: 'socket.io-client, default (polling first, then upgrade)', impl: 'socketio-default', modes: ['pass', 'refuse', 'hang'] },
  { key: 'socketio-ws-first-tryall', label: "socket.io-client, transports: ['websocket', 'polling'], tryAllTransports: true", impl: 'socketio-ws-first-tryall', modes: ['pass', 'refuse', 'hang'] },
  { key: 'socketio-ws-first', label: "socket.io-client, transports: ['websocket', 'polling'] (tryAllTransports default: false)", impl: 'socketio-ws-first', modes: ['pass', 'refuse', 'hang'] },
])


/** Sections 8–10: one stack's server alone in its own process (bench/suite/solo.ts), clients in fleets (bench/suite/fleet.ts). */
const SERVER_HEAP_CLIENTS = 2_000
const SERVER_HEAP_FLEETS = 2
const FANOUT_CLIENTS = 2_000
const FANOUT_FLEETS = 4
const FANOUT_N = 100
const FANOUT_WARM = 20
const FANOUT_BURST = 1

const RTT_ALONE_ROWS = pick<{ key: string; label: string; stack: SoloStack; impl: RttImpl }>([
  { key: 'surewire-ws', label: 'surewire client ↔ surewire server, WebSocket', stack: 'surewire', impl: 'surewire-ws' },
  { key: 'socketio-ws', label: 'socket.io-client ↔ socket.io, websocket transport', stack: 'socketio', impl: 'socketio-ws' },
  { key: 'raw-ws', label: 'raw `ws` ↔ raw `ws`', stack: 'raw-ws', impl: 'raw-ws' },
])

const SERVER_HEAP_ROWS = pick<{ key: string; label: string; stack: SoloStack; impl: FleetImpl }>([
  { key: 'surewire-ws', label: 'surewire server, WebSocket', stack: 'surewire', impl: 'surewire-ws' },
  { key: 'surewire-sse', label: 'surewire server, SSE', stack: 'surewire', impl: 'surewire-sse' },
  { key: 'socketio-ws', label: "socket.io server, clients with transports: ['websocket']", stack: 'socketio', impl: 'socketio-ws' },
  { key: 'socketio-default', label: 'socket.io server, clients default (polling, upgraded to websocket)', stack: 'socketio', impl: 'socketio-default' },
  { key: 'raw-ws', label: 'raw `ws` server (reference)', stack: 'raw-ws', impl: 'raw-ws' },
])

const FANOUT_ROWS = pick<{ key: string; label: string; stack: SoloStack; impl: FleetImpl }>([
  { key: 'surewire-ws', label: 'surewire `broadcast()`, WebSocket clients', stack: 'surewire', impl: 'surewire-ws' },
  { key: 'surewire-sse', label: 'surewire `broadcast()`, SSE clients', stack: 'surewire', impl: 'surewire-sse' },
  { key: 'socketio-ws', label: "socket.io `io.emit()`, clients with transports: ['websocket']", stack: 'socketio', impl: 'socketio-ws' },
  { key: 'raw-ws', label: 'raw `ws`, `send()` to each client (reference: no session, no replay log)', stack: 'raw-ws', impl: 'raw-ws' },
])

/** `--prof`: the solo server writes a CPU profile too (bench/profiles/NNN-server-<section>-<row>/). */
const soloProf = (sectionName: string, key: string): string[] =>
  PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(PROF_DIR, `${String(++profCount).padStart(3, '0')}-server-${sectionName}-${key}`)}`] : []

/** Ports for the client worker when one solo server is all there is (the task's impl picks the one it needs). */
const soloPorts = (port: number): ServerPorts => ({ surewire: port, socketio: port, rawWs: port, rawSse: 0, proxies: { surewire: { pass: 0, refuse: 0, hang: 0 }, socketio: { pass: 0, refuse: 0, hang: 0 } } })

/** `total` clients of `impl` to `port`, spread over `fleets` processes started together. */
async function fleetsOf(impl: FleetImpl, port: number, total: number, fleets: number): Promise<Fleet[]> {
  const per = Math.ceil(total / fleets)
  const started = await Promise.allSettled(Array.from({ length: fleets }, (_, i) => startFleet(BUILD_DIR, { impl, port, clients: Math.min(per, total - i * per) })))
  const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const failed = started.find((r) => r.status === 'rejected')
  if (failed) {
    await Promise.all(ok.map((x) => x.close()))
    throw failed.reason
  }
  return ok
}

async function main(): Promise<void> {
  const started = Date.now()
  if (PROF) mkdirSync(PROF_DIR, { recursive: true })
  await buildWorkers()
  const server = await startServer()
  const { ports } = server
  const serverCpu = async () => (await server.request('cpu')) as number
  const f: Figures = { pushCpu: {}, pushRate: {}, c2sRate: {}, rttMedian: {}, connect: {}, heap: {}, rttAlone: {}, serverHeap: {}, fanout: {} }
  const md: string[] = []
  const section = (title: string, intro: string, body: string) => md.push(`## ${title}`, '', intro, '', body, '')
  if (ONLY.includes('cluster')) md.push(...(await clusterSection(RUNS, log)).markdown) // bench/cluster.ts: its own processes and redis-server

  try {
    if (ONLY.includes('push')) {
      log(`push: ${PUSH_N.toLocaleString('en-US')} messages, ${RUNS} runs × ${PUSH_ROWS.length} stacks`)
      const raw: Record<string, { rate: number[]; cpu: number[]; server: number[] }> = {}
      for (let r = 0; r < RUNS; r++) {
        for (const row of PUSH_ROWS) {
          const s0 = await serverCpu()
          const res = (await runClient(ports, { ...row.task, n: PUSH_N, warm: 20_000 })) as Extract<TaskResult, { kind: 'throughput' }>
          const s1 = await serverCpu()
          const x = (raw[row.key] ??= { rate: [], cpu: [], server: [] })
          x.rate.push(res.n / (res.ms / 1000))
          x.cpu.push(res.cpuUs / res.n)
          x.server.push((s1 - s0) / res.n) // includes the warm-up burst; an indication only
          log(`  ${row.key.padEnd(18)} ${num(res.n / (res.ms / 1000), 0).padStart(10)} msg/s  client ${num(res.cpuUs / res.n, 2)} µs/msg`)
        }
      }
      const rows = PUSH_ROWS.map((row) => {
        const x = raw[row.key]!
        f.pushRate[row.key] = summarize(x.rate)
        f.pushCpu[row.key] = summarize(x.cpu)
        return [row.label, spread(f.pushRate[row.key]!, 0), spread(f.pushCpu[row.key]!, 2), spread(summarize(x.server), 2)]
      })
      section(
        '1. Server → client push',
        `${PUSH_N.toLocaleString('en-US')} small JSON messages (\`{"type":"tick","n":…}\`) pushed by the server in bursts of 100 per event-loop turn, after a 20,000-message warm-up on the same connection. msgs/s is measured in the client from the request to the last message; client CPU is \`process.cpuUsage()\` of the client process (user + system) over the same span, divided by the message count. No schema (a pass-through Standard Schema) for surewire, except the zod row. Server CPU per message includes the warm-up burst and is an indication only. The raw servers write each message as it is sent, as a straightforward server does; surewire's server writes the frames of one tick together (WebSocket: socket corked until the tick ends; SSE: one chunk), which cuts the client's per-message cost too. The two reference rows give the raw servers the same batching, for comparison. The raw servers buffer without bound; surewire runs with \`maxBufferedBytes\` = 64 MiB (default 4 MiB) so a client descheduled on a busy machine is not closed as a slow consumer mid-run (with the default it would be, and its replay could not cover the backlog: a reset, the task fails naming it).`,
        table(['stack', 'msgs/s', 'client CPU µs/msg', 'server CPU µs/msg'], rows, ['l', 'r', 'r', 'r']),
      )
    }

    if (ONLY.includes('c2s')) {
      log(`c2s: ${RUNS} runs × ${C2S_ROWS.length} stacks`)
      const raw: Record<string, { rate: number[]; cpu: number[]; server: number[] }> = {}
      for (let r = 0; r < RUNS; r++) {
        for (const row of C2S_ROWS) {
          const s0 = await serverCpu()
          const res = (await runClient(ports, { kind: 'c2s', impl: row.impl, n: row.n, warm: row.warm })) as Extract<TaskResult, { kind: 'throughput' }>
          const s1 = await serverCpu()
          const x = (raw[row.key] ??= { rate: [], cpu: [], server: [] })
          x.rate.push(res.n / (res.ms / 1000))
          x.cpu.push(res.cpuUs / res.n)
          x.server.push((s1 - s0) / (row.n + row.warm))
          log(`  ${row.key.padEnd(24)} ${num(res.n / (res.ms / 1000), 0).padStart(10)} msg/s`)
        }
      }
      const rows = C2S_ROWS.map((row) => {
        const x = raw[row.key]!
        f.c2sRate[row.key] = summarize(x.rate)
        return [row.label, spread(f.c2sRate[row.key]!, 0), spread(summarize(x.cpu), 2), spread(summarize(x.server), 2)]
      })
      section(
        '2. Client → server',
        `${C2S_N.toLocaleString('en-US')} messages (\`{"type":"count","n":…,"of":…}\`) from one client, after a warm-up; the clock stops when the server's reply to the last one arrives (and, for surewire, when every send() has been acked). surewire keeps at most its default queue bound (1,000) unacked; socket.io and raw ws have no acks and buffer without bound.`,
        table(['path', 'msgs/s', 'client CPU µs/msg', 'server CPU µs/msg'], rows, ['l', 'r', 'r', 'r']),
      )
    }

    if (ONLY.includes('rtt')) {
      log(`rtt: ${RTT_N} sequential round trips per stack, interleaved in one process, ${RUNS} runs`)
      const raw: Record<string, { median: number[]; p99: number[] }> = {}
      // The WebSocket stacks take turns in one process; SSE + POST (a millisecond per round trip, and
      // fetch's stream machinery busy in between) runs in a process of its own.
      const groups = [RTT_ROWS.filter((row) => row.impl !== 'surewire-sse'), RTT_ROWS.filter((row) => row.impl === 'surewire-sse')].filter((g) => g.length)
      for (let r = 0; r < RUNS; r++) {
        const byImpl: Extract<TaskResult, { kind: 'rtt' }>['byImpl'] = {}
        for (const g of groups) {
          const res = (await runClient(ports, { kind: 'rtt', impls: g.map((row) => row.impl), n: RTT_N, warm: 500 })) as Extract<TaskResult, { kind: 'rtt' }>
          Object.assign(byImpl, res.byImpl)
        }
        for (const row of RTT_ROWS) {
          const x = (raw[row.key] ??= { median: [], p99: [] })
          const got = byImpl[row.impl]!
          x.median.push(got.median)
          x.p99.push(got.p99)
          log(`  ${row.key.padEnd(14)} median ${num(got.median * 1000, 0)} µs  p99 ${num(got.p99 * 1000, 0)} µs`)
        }
      }
      const rows = RTT_ROWS.map((row) => {
        const x = raw[row.key]!
        f.rttMedian[row.key] = summarize(x.median)
        const us = (v: number[]) => summarize(v.map((m) => m * 1000))
        return [row.label, spread(us(x.median), 0), spread(us(x.p99), 0)]
      })
      section(
        '3. Round trip',
        `${RTT_N.toLocaleString('en-US')} sequential request/replies per stack (client sends \`echo\`, waits for the server's \`echo\`), after 500 unmeasured ones. The WebSocket stacks are connected from one client process and take turns, one round trip each, so load on the machine hits them alike; SSE + POST runs in a process of its own. Median and p99 of each run; the table gives the median over the runs and their range.`,
        table(['stack', 'median µs', 'p99 µs'], rows, ['l', 'r', 'r']),
      )
    }

    if (ONLY.includes('connect')) {
      log(`connect: through the test proxy, ${RUNS} cold processes + ${RUNS} warm samples per row`)
      const tmp = mkdtempSync(join(tmpdir(), 'surewire-bench-'))
      const cases = CONNECT_ROWS.flatMap((row) => row.modes.map((mode) => ({ row, mode, key: `${row.key}/${mode}` })))
      const cold = new Map<string, number[]>()
      const opened = new Map<string, Set<string>>()
      const errors = new Map<string, Set<string>>()
      const note = (key: string, s: { ms: number; opened: string; error?: string }) => {
        ;(opened.get(key) ?? opened.set(key, new Set()).get(key)!).add(s.opened)
        if (s.error) (errors.get(key) ?? errors.set(key, new Set()).get(key)!).add(s.error)
      }
      // Cold runs interleaved across rows (run 1 of every row, then run 2…), so drift hits every row alike.
      for (let r = 0; r < RUNS; r++) {
        for (const { row, mode, key } of cases) {
          let storageFile: string | undefined
          if (row.impl === 'surewire-remembered') {
            // A previous "page load" that was refused and wrote the fact to storage.
            storageFile = join(tmp, `storage-${r}.json`)
            await runClient(ports, { kind: 'connect', impl: 'surewire', mode, warm: 0, limitMs: CONNECT_LIMIT_MS, storageFile })
          }
          const before = row.impl === 'surewire-remembered' ? await server.request('proxyStats') : undefined
          const res = (await runClient(ports, { kind: 'connect', impl: row.impl, mode, warm: 0, limitMs: CONNECT_LIMIT_MS, storageFile })) as Extract<TaskResult, { kind: 'connect' }>
          if (before) {
            const after = (await server.request('proxyStats')) as Record<string, Record<string, { refused: number; upgrades: number; hung: number }>>
            const b = (before as typeof after).surewire!.refuse!
            const a = after.surewire!.refuse!
            f.rememberedUpgrades = (f.rememberedUpgrades ?? 0) + (a.refused + a.upgrades + a.hung - (b.refused + b.upgrades + b.hung))
          }
          for (const s of res.samples) {
            ;(cold.get(key) ?? cold.set(key, []).get(key)!).push(s.ms)
            note(key, s)
          }
        }
      }
      const fetchFirst: number[] = []
      const fetchSecond: number[] = []
      for (let r = 0; r < RUNS; r++) {
        const res = (await runClient(ports, { kind: 'fetch' })) as Extract<TaskResult, { kind: 'fetch' }>
        fetchFirst.push(res.firstMs)
        fetchSecond.push(res.secondMs)
      }
      const rows: string[][] = []
      const limit = `none within ${CONNECT_LIMIT_MS / 1000} s`
      const cell = (s: Summary) => (s.ok === 0 ? limit : spread(s, 1) + (s.ok < s.of ? ` (${s.of - s.ok} of ${s.of}: ${limit})` : ''))
      for (const { row, mode, key } of cases) {
        const w = (await runClient(ports, { kind: 'connect', impl: row.impl, mode, warm: RUNS, limitMs: CONNECT_LIMIT_MS }, 120_000)) as Extract<TaskResult, { kind: 'connect' }>
        for (const s of w.samples) note(key, s)
        const summary = { cold: summarize(cold.get(key) ?? []), warm: summarize(w.samples.map((s) => s.ms)) }
        f.connect[key] = summary
        const warmCell = w.primerError ? `– (its first connection got ${limit})` : cell(summary.warm)
        const via = [...(opened.get(key) ?? [])].join(', ')
        rows.push([row.label, mode, cell(summary.cold), warmCell, via])
        const errs = [...(errors.get(key) ?? [])]
        log(`  ${row.key.padEnd(26)} ${mode.padEnd(7)} cold ${cell(summary.cold)}  warm ${warmCell}${errs.length ? `  (${errs.join('; ')})` : ''}`)
      }
      rmSync(tmp, { recursive: true, force: true })
      const ff = summarize(fetchFirst)
      const fs2 = summarize(fetchSecond)
      section(
        '4. connect() → first server message, through the test proxy',
        [
          `Client → test/support/proxy.ts → server, on 127.0.0.1. The proxy forwards (pass), answers WebSocket upgrades with HTTP 400 (refuse), or accepts and never answers them (hang); plain HTTP always passes. The first message is the server's \`welcome\`. Cold: the first connection of a fresh client process (${RUNS} processes per row, interleaved across rows). Warm: the same process after one unmeasured connection (${RUNS} samples), each surewire client with fresh storage except in the remembered row. surewire runs with default options (\`sseHeadStartMs\` ${clientDefaults.sseHeadStartMs}, \`connectTimeoutMs\` ${clientDefaults.connectTimeoutMs}); socket.io-client with \`forceNew\` and otherwise the options shown. A sample gives up after ${CONNECT_LIMIT_MS / 1000} s. In the remembered cold runs the proxy saw ${f.rememberedUpgrades ?? '?'} WebSocket upgrade requests.`,
          '',
          `Cold SSE in Node: the first \`fetch()\` of a fresh Node ${process.version} process takes ${spread(ff, 1)} ms against the same server (the second: ${spread(fs2, 1)} ms), because Node loads its fetch implementation (undici) on first use. Every cold surewire row that reaches SSE pays this; socket.io's long-polling uses \`node:http\`, already loaded. Browsers have fetch built in.`,
        ].join('\n'),
        table(['client', 'proxy', 'cold ms', 'warm ms', 'first message via'], rows, ['l', 'l', 'r', 'r', 'l']),
      )
    }

    if (ONLY.includes('heap')) {
      log(`heap: ${HEAP_CLIENTS} idle clients in one process, ${RUNS} runs × ${HEAP_ROWS.length} stacks`)
      const raw: Record<string, number[]> = {}
      for (let r = 0; r < RUNS; r++) {
        for (const row of HEAP_ROWS) {
          const res = (await runClient(ports, { kind: 'heap', impl: row.impl, clients: HEAP_CLIENTS })) as Extract<TaskResult, { kind: 'heap' }>
          ;(raw[row.key] ??= []).push(res.perConnBytes)
          log(`  ${row.key.padEnd(18)} ${num(res.perConnBytes / 1000, 2)} kB/connection`)
        }
      }
      const rows = HEAP_ROWS.map((row) => {
        f.heap[row.key] = summarize(raw[row.key]!)
        return [row.label, spread(summarize(raw[row.key]!.map((b) => b / 1000)), 2)]
      })
      section(
        '5. Client heap per idle connection',
        `${HEAP_CLIENTS.toLocaleString('en-US')} connected, idle clients in one process (\`node --expose-gc\`): V8 \`heapUsed\` after GC with all of them open, minus \`heapUsed\` after GC before the first (one connection was opened and closed before that baseline so lazily loaded modules are not counted), divided by ${HEAP_CLIENTS.toLocaleString('en-US')}. Heap only: socket buffers outside the V8 heap are not counted.`,
        table(['client', 'kB per connection'], rows, ['l', 'r']),
      )
    }

    if (ONLY.includes('validate')) {
      log('validate: zod vs pass-through in isolation')
      const zod: number[] = []
      const none: number[] = []
      for (let r = 0; r < RUNS; r++) {
        const res = (await runClient(ports, { kind: 'validate', n: 1_000_000 })) as Extract<TaskResult, { kind: 'validate' }>
        zod.push(res.zodUs)
        none.push(res.noneUs)
      }
      const rows = [
        ['zod discriminated union of 5 message types, `~standard.validate` alone', spread(summarize(zod), 3)],
        ['no schema (pass-through), `~standard.validate` alone', spread(summarize(none), 3)],
      ]
      const z = f.pushCpu['surewire-ws-zod']
      const n = f.pushCpu['surewire-ws']
      if (z && n) rows.push(['end to end: client CPU per pushed message, zod − no schema (from section 1)', num(z.median - n.median, 2)])
      section(
        '6. Validation cost',
        'µs per message. In isolation: 1,000,000 already-parsed messages (the five types in turn) through the schema in one process, after a warm-up. End to end: the difference between the surewire WebSocket rows with and without the zod schema in section 1.',
        table(['what', 'µs per message'], rows, ['l', 'r']),
      )
    }

    if (ONLY.includes('bundle')) {
      log('bundle: esbuild')
      f.bundle = await bundleSizes(ROOT)
      const rows = f.bundle.sizes.map((b) => [b.name, b.what, kb(b.min), kb(b.gzip), kb(b.brotli)])
      if (f.bundle.reactMissing) rows.push(['surewire/react', 'not measured: the package has no react entry (src/react) yet', '–', '–', '–'])
      section(
        '7. Browser bundle size',
        'esbuild, `platform: browser`, ESM, minified, tree-shaken, `process.env.NODE_ENV` = production; gzip level 9, brotli quality 11. 1 kB = 1,000 bytes.',
        table(['entry', 'what is imported', 'min', 'min + gzip', 'min + brotli'], rows, ['l', 'l', 'r', 'r', 'r']),
      )
    }

    if (ONLY.includes('rtt-alone')) {
      log(`rtt-alone: ${RTT_N} sequential round trips, each stack alone (own server and client process), ${RUNS} runs × ${RTT_ALONE_ROWS.length} stacks`)
      const raw: Record<string, { median: number[]; p99: number[]; againMedian: number[]; againP99: number[] }> = {}
      for (let r = 0; r < RUNS; r++) {
        // Run r starts with stack r (mod the number of stacks): each stack is first as often as the
        // others, so whatever the runner did just before (a section's last process exiting, its GC)
        // does not always fall on the same stack's run.
        for (let k = 0; k < RTT_ALONE_ROWS.length; k++) {
          const row = RTT_ALONE_ROWS[(r + k) % RTT_ALONE_ROWS.length]!
          const solo = await startSolo(BUILD_DIR, row.stack, soloProf('rtt-alone', row.key))
          try {
            const res = (await runClient(soloPorts(solo.port), { kind: 'rtt', impls: [row.impl], n: RTT_N, warm: 500, again: RTT_N })) as Extract<TaskResult, { kind: 'rtt' }>
            const got = res.byImpl[row.impl]!
            const x = (raw[row.key] ??= { median: [], p99: [], againMedian: [], againP99: [] })
            x.median.push(got.median)
            x.p99.push(got.p99)
            x.againMedian.push(got.again!.median)
            x.againP99.push(got.again!.p99)
            log(`  ${row.key.padEnd(14)} median ${num(got.median * 1000, 0)} µs  p99 ${num(got.p99 * 1000, 0)} µs  | next ${RTT_N}: median ${num(got.again!.median * 1000, 0)} µs  p99 ${num(got.again!.p99 * 1000, 0)} µs`)
          } finally {
            await solo.stop()
          }
        }
      }
      const us = (v: number[]) => summarize(v.map((m) => m * 1000))
      const rows = RTT_ALONE_ROWS.map((row) => {
        const x = raw[row.key]!
        f.rttAlone[row.key] = { median: us(x.median), p99: us(x.p99) }
        return [row.label, spread(f.rttAlone[row.key]!.median, 0), spread(f.rttAlone[row.key]!.p99, 0), spread(us(x.againMedian), 0), spread(us(x.againP99), 0)]
      })
      const n = RTT_N.toLocaleString('en-US')
      section(
        '8. Round trip, each stack alone',
        `As section 3 (${n} sequential \`echo\` request/replies after 500 unmeasured ones, median and p99 of each run), but each stack alone: its own server process (bench/suite/solo.ts, nothing else listening in it) and its own client process, one stack at a time, runs interleaved across stacks (run r starts with the r-th stack). The table gives the median over the runs and their range. Both processes are new in every run, so the first ${n} include their JIT warm-up (functions called once per round trip are optimised after a few thousand calls; \`npx tsx bench/rtt-trace.ts\` shows where each run's slowest round trips fall); the last two columns are the next ${n} round trips of the same run, after that warm-up.`,
        table(['stack', 'median µs', 'p99 µs', `next ${n}: median µs`, `next ${n}: p99 µs`], rows, ['l', 'r', 'r', 'r', 'r']),
      )
    }

    if (ONLY.includes('server-heap')) {
      log(`server-heap: ${SERVER_HEAP_CLIENTS} idle clients in ${SERVER_HEAP_FLEETS} processes, ${RUNS} runs × ${SERVER_HEAP_ROWS.length} rows`)
      const raw: Record<string, number[]> = {}
      for (let r = 0; r < RUNS; r++) {
        for (const row of SERVER_HEAP_ROWS) {
          const solo = await startSolo(BUILD_DIR, row.stack, ['--expose-gc'])
          try {
            const connected = (n: number) => until(`${n} ${row.key} connections`, async () => (await solo.request<number>({ cmd: 'connections' })) === n)
            // One connection opened and closed first, so lazily loaded modules and first-use caches are in the baseline.
            const [warm] = await fleetsOf(row.impl, solo.port, 1, 1)
            await connected(1)
            await warm!.close()
            await connected(0)
            const base = await solo.request<number>({ cmd: 'heap' })
            const fleets = await fleetsOf(row.impl, solo.port, SERVER_HEAP_CLIENTS, SERVER_HEAP_FLEETS)
            await connected(SERVER_HEAP_CLIENTS)
            await new Promise((res) => setTimeout(res, 500)) // welcome messages, upgrades, first timers
            const heap = await solo.request<number>({ cmd: 'heap' })
            await Promise.all(fleets.map((x) => x.close()))
            const per = (heap - base) / SERVER_HEAP_CLIENTS
            ;(raw[row.key] ??= []).push(per)
            log(`  ${row.key.padEnd(18)} ${num(per / 1000, 2)} kB/connection`)
          } finally {
            await solo.stop()
          }
        }
      }
      const rows = SERVER_HEAP_ROWS.map((row) => {
        f.serverHeap[row.key] = summarize(raw[row.key]!)
        return [row.label, spread(summarize(raw[row.key]!.map((b) => b / 1000)), 2)]
      })
      section(
        '9. Server heap per idle connection',
        `${SERVER_HEAP_CLIENTS.toLocaleString('en-US')} connected, idle clients (${SERVER_HEAP_FLEETS} client processes) of one server process running one stack alone (bench/suite/solo.ts, \`node --expose-gc\`): V8 \`heapUsed\` after GC with all of them connected (and 500 ms settled), minus \`heapUsed\` after GC before the first (one client was connected and disconnected before that baseline, so lazily loaded modules are not counted), divided by ${SERVER_HEAP_CLIENTS.toLocaleString('en-US')}. Each connection has received its \`welcome\` message (surewire keeps it in the session's replay log). Heap only: socket buffers outside the V8 heap are not counted.`,
        table(['server', 'kB per connection'], rows, ['l', 'r']),
      )
    }

    if (ONLY.includes('broadcast')) {
      const deliveries = FANOUT_N * FANOUT_CLIENTS
      log(`broadcast: ${FANOUT_N} broadcasts to ${FANOUT_CLIENTS} clients in ${FANOUT_FLEETS} processes, ${RUNS} runs × ${FANOUT_ROWS.length} rows`)
      const raw: Record<string, { rate: number[]; cpu: number[] }> = {}
      for (let r = 0; r < RUNS; r++) {
        for (const row of FANOUT_ROWS) {
          const solo = await startSolo(BUILD_DIR, row.stack, soloProf('broadcast', row.key))
          let fleets: Fleet[] = []
          try {
            fleets = await fleetsOf(row.impl, solo.port, FANOUT_CLIENTS, FANOUT_FLEETS)
            await until(`${FANOUT_CLIENTS} ${row.key} connections`, async () => (await solo.request<number>({ cmd: 'connections' })) === FANOUT_CLIENTS)
            const round = async (n: number) => {
              const waits = await Promise.all(fleets.map((x) => x.expect(n)))
              await Promise.all(waits.map((w) => w.armed))
              const c0 = await solo.request<number>({ cmd: 'cpu' })
              const t0 = await solo.request<number>({ cmd: 'broadcast', n, burst: FANOUT_BURST })
              const done = await Promise.all(waits.map((w) => w.done))
              const c1 = await solo.request<number>({ cmd: 'cpu' })
              return { ms: Math.max(...done.map((d) => d.at)) - t0, serverCpuUs: c1 - c0 }
            }
            await round(FANOUT_WARM) // JIT, buffers
            const res = await round(FANOUT_N)
            const x = (raw[row.key] ??= { rate: [], cpu: [] })
            x.rate.push(deliveries / (res.ms / 1000))
            x.cpu.push(res.serverCpuUs / deliveries)
            log(`  ${row.key.padEnd(14)} ${num(deliveries / (res.ms / 1000), 0).padStart(10)} deliveries/s  server ${num(res.serverCpuUs / deliveries, 2)} µs/delivery`)
          } finally {
            await Promise.all(fleets.map((x) => x.close()))
            await solo.stop()
          }
        }
      }
      const rows = FANOUT_ROWS.map((row) => {
        const x = raw[row.key]!
        f.fanout[row.key] = { rate: summarize(x.rate), cpu: summarize(x.cpu) }
        return [row.label, spread(f.fanout[row.key]!.rate, 0), spread(f.fanout[row.key]!.cpu, 2)]
      })
      section(
        `10. Broadcast to ${FANOUT_CLIENTS.toLocaleString('en-US')} connected clients`,
        `One server process running one stack alone (bench/suite/solo.ts); ${FANOUT_CLIENTS.toLocaleString('en-US')} clients spread over ${FANOUT_FLEETS} client processes. The server broadcasts ${FANOUT_N} small messages (\`{"type":"tick","n":…}\`), ${FANOUT_BURST} per event-loop turn, after ${FANOUT_WARM} unmeasured ones: ${deliveries.toLocaleString('en-US')} deliveries. deliveries/s: from the first broadcast call to the moment the last client received its last message (epoch clocks of the processes, \`performance.timeOrigin + now()\`). Server CPU: \`process.cpuUsage()\` of the server process over the same span, divided by the deliveries. The client processes share the machine's 2 cores with the server, so deliveries/s includes the clients' cost; CPU per delivery is the server's alone.`,
        table(['server', 'deliveries/s', 'server CPU µs/delivery'], rows, ['l', 'r', 'r']),
      )
    }
  } finally {
    await server.request('exit').catch(() => {})
    server.proc.kill()
  }

  const minutes = ((Date.now() - started) / 60_000).toFixed(1)
  const cpu = cpus()
  const doc = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench` (bench/run.ts); do not edit by hand.',
    '',
    `- Date: ${new Date().toISOString()}`,
    `- Node ${process.version}, ${platform()} ${arch()}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}`,
    `- Packages: ${versions()}`,
    `- ${RUNS} runs per figure; cells are \`median (min–max)\` over the runs. Sections: ${ONLY.join(', ')}; the run took ${minutes} min.`,
    '- Server (bench/suite/server.ts) and each client (bench/suite/client.ts) in separate processes on 127.0.0.1, bundled with esbuild to plain .mjs (packages external) as tsup builds dist/; surewire clients use `WebSocket` from `ws` (Node 20 has none built in).',
    '- Sections 8–10 run one stack\'s server alone in a process of its own (bench/suite/solo.ts) with its clients in other processes (bench/suite/client.ts, or fleets of idle clients: bench/suite/fleet.ts).',
    `- Reproduce: \`npm run bench\` (options: \`-- --runs 5\`, \`-- --only ${SECTIONS.join(',')}\` (any of them), \`-- --prof\` for client CPU profiles in bench/profiles/). Heap by constructor: \`npx tsx bench/heap-snapshot.ts\` (server side; \`--side client\`, \`--impl surewire-sse\`). Where section 8's slowest round trips fall (GC pauses of either process, JIT, per-1,000 CPU): \`npx tsx bench/rtt-trace.ts\`.`,
    '',
    '## Targets',
    '',
    targets(f),
    '',
    ...md,
  ].join('\n')
  writeFileSync(OUT, doc)
  log(`\nwrote ${OUT} in ${minutes} min`)
}

function targets(f: Figures): string {
  const rows: string[][] = []
  const add = (figure: string, target: string, measured: string, met: boolean | undefined) =>
    rows.push([figure, target, measured, met === undefined ? 'not measured' : met ? 'met' : '**missed**'])
  const m = (s: Summary | undefined) => s?.median ?? NaN
  const has = (...s: (Summary | undefined)[]) => s.every((x) => x && x.ok > 0)

  const batchedNote = (key: string) => (f.pushCpu[key] ? `; raw with a batching server ${num(m(f.pushCpu[key]), 2)}` : '')
  const [sw, raw, io] = [f.pushCpu['surewire-ws'], f.pushCpu['raw-ws'], f.pushCpu['socketio-ws']]
  add(
    'client CPU per pushed message, WebSocket',
    '≤ raw ws client, and below socket.io',
    `${num(m(sw), 2)} µs vs raw ws ${num(m(raw), 2)}, socket.io ${num(m(io), 2)}${batchedNote('raw-ws-batched')}`,
    has(sw, raw, io) ? m(sw) <= m(raw) && m(sw) < m(io) : undefined,
  )
  const [ss, rs] = [f.pushCpu['surewire-sse'], f.pushCpu['raw-sse']]
  add(
    'client CPU per pushed message, SSE',
    '≤ 1.25 × raw fetch + eventsource-parser',
    `${num(m(ss), 2)} µs vs raw ${num(m(rs), 2)} (${num(m(ss) / m(rs), 2)}×)${batchedNote('raw-sse-batched')}`,
    has(ss, rs) ? m(ss) <= 1.25 * m(rs) : undefined,
  )
  const [pb, pu] = [f.c2sRate['surewire-post'], f.c2sRate['surewire-post-unbatched']]
  add('client → server over POST', '≥ 10× one POST per message', `${num(m(pb), 0)} vs ${num(m(pu), 0)} msgs/s (${num(m(pb) / m(pu), 1)}×)`, has(pb, pu) ? m(pb) >= 10 * m(pu) : undefined)
  const [rw, ri] = [f.rttMedian['surewire-ws'], f.rttMedian['socketio-ws']]
  add('median round trip, WebSocket', '≤ socket.io websocket', `${num(m(rw) * 1000, 0)} µs vs ${num(m(ri) * 1000, 0)} µs`, has(rw, ri) ? m(rw) <= m(ri) : undefined)
  const [sr, ir] = [f.connect['surewire/refuse'], f.connect['socketio-ws-first-tryall/refuse']]
  add(
    'refused upgrade → first message',
    '≤ socket.io tryAllTransports (cold and warm)',
    `cold ${num(m(sr?.cold), 1)} vs ${num(m(ir?.cold), 1)} ms; warm ${num(m(sr?.warm), 1)} vs ${num(m(ir?.warm), 1)} ms`,
    sr && ir && has(sr.cold, sr.warm) ? m(sr.cold) <= (ir.cold.ok ? m(ir.cold) : Infinity) && m(sr.warm) <= (ir.warm.ok ? m(ir.warm) : Infinity) : undefined,
  )
  const sh = f.connect['surewire/hang']
  add('hanging upgrade → first message', '≤ 3 s', `cold ${num(m(sh?.cold), 0)} ms, warm ${num(m(sh?.warm), 0)} ms`, sh && has(sh.cold, sh.warm) ? sh.cold.max <= 3000 && sh.warm.max <= 3000 : undefined)
  const [rem, direct] = [f.connect['surewire-remembered/refuse'], f.connect['surewire-sse/pass']]
  // "As fast as": within 10 % of the direct SSE median, or inside the direct SSE row's own min–max.
  const asFast = (a: Summary, b: Summary) => a.median <= 1.1 * b.median || a.median <= b.max
  add(
    'after a refusal, remembered',
    'no WebSocket attempt; first message as fast as a direct SSE connect (median ≤ +10 % or within its min–max)',
    `${f.rememberedUpgrades ?? '?'} upgrade attempts (cold); cold ${num(m(rem?.cold), 1)} vs direct SSE ${num(m(direct?.cold), 1)} ms; warm ${num(m(rem?.warm), 1)} vs ${num(m(direct?.warm), 1)} ms`,
    rem && direct && has(rem.cold, rem.warm, direct.cold, direct.warm) ? f.rememberedUpgrades === 0 && asFast(rem.cold, direct.cold) && asFast(rem.warm, direct.warm) : undefined,
  )
  const [hw, hd, hi] = [f.heap['surewire-ws'], f.heap['socketio-default'], f.heap['socketio-ws']]
  const ioHeap = Math.min(m(hd), m(hi))
  add('client heap per idle connection', "≤ ½ socket.io-client's (the smaller of its two rows)", `${num(m(hw) / 1000, 2)} kB vs ${num(ioHeap / 1000, 2)} kB`, has(hw, hd, hi) ? m(hw) <= ioHeap / 2 : undefined)
  const [aw, ai] = [f.rttAlone['surewire-ws'], f.rttAlone['socketio-ws']]
  add(
    'round trip over WebSocket, each stack alone, median and p99',
    '≤ socket.io (both)',
    `median ${num(m(aw?.median), 0)} vs ${num(m(ai?.median), 0)} µs; p99 ${num(m(aw?.p99), 0)} vs ${num(m(ai?.p99), 0)} µs`,
    aw && ai && has(aw.median, aw.p99, ai.median, ai.p99) ? m(aw.median) <= m(ai.median) && m(aw.p99) <= m(ai.p99) : undefined,
  )
  const [shw, shs, shi, shd] = [f.serverHeap['surewire-ws'], f.serverHeap['surewire-sse'], f.serverHeap['socketio-ws'], f.serverHeap['socketio-default']]
  const ioServer = Math.min(shi?.ok ? m(shi) : Infinity, shd?.ok ? m(shd) : Infinity)
  for (const [label, sh] of [['WebSocket', shw], ['SSE', shs]] as const) {
    add(
      `server heap per idle connection, ${label}`,
      "≤ ½ socket.io server's (the smaller of its two rows)",
      `${num(m(sh) / 1000, 2)} kB vs ${num(ioServer / 1000, 2)} kB`,
      has(sh) && Number.isFinite(ioServer) ? m(sh) <= ioServer / 2 : undefined,
    )
  }
  const [fw, fi] = [f.fanout['surewire-ws'], f.fanout['socketio-ws']]
  add(
    `broadcast to ${FANOUT_CLIENTS.toLocaleString('en-US')} clients, WebSocket`,
    "≥ socket.io's deliveries/s, ≤ its server CPU per delivery",
    `${num(m(fw?.rate), 0)} vs ${num(m(fi?.rate), 0)} deliveries/s; ${num(m(fw?.cpu), 2)} vs ${num(m(fi?.cpu), 2)} µs/delivery`,
    fw && fi && has(fw.rate, fw.cpu, fi.rate, fi.cpu) ? m(fw.rate) >= m(fi.rate) && m(fw.cpu) <= m(fi.cpu) : undefined,
  )
  const b = f.bundle?.sizes
  // Issue #14: the import an app makes, tab sharing included, and the hooks' cost on top of it.
  const core = b?.find((x) => x.name === 'surewire (RealtimeClient only)')
  const withReact = b?.find((x) => x.name === 'surewire (RealtimeClient) + surewire/react')
  add('bundle min+gzip, `{ RealtimeClient }` (tab sharing included)', '≤ 8 kB (8,000 B)', core ? `${core.gzip.toLocaleString('en-US')} B` : '–', core ? core.gzip <= 8000 : undefined)
  add(
    'bundle min+gzip, `surewire/react` on top',
    '≤ 1 kB (1,000 B) more',
    withReact && core ? `+${(withReact.gzip - core.gzip).toLocaleString('en-US')} B` : f.bundle?.reactMissing ? 'no react entry yet' : '–',
    withReact && core ? withReact.gzip - core.gzip <= 1000 : undefined,
  )
  return table(['figure', 'target', 'measured (medians)', ''], rows, ['l', 'l', 'l', 'l'])
}

// A bound on the whole suite, unref'd so it never keeps the process alive itself.
setTimeout(() => {
  console.error('bench: still running after 20 minutes; giving up')
  process.exit(1)
}, 20 * 60_000).unref()

await main()
