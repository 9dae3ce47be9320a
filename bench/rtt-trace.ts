/**
 * `npx tsx bench/rtt-trace.ts`: where the tail of section 8 (round trip, each stack alone) comes
 * from. Runs the same 5,000 sequential echo round trips after 500 warm-up ones, each stack in its
 * own server and client process (bench/suite/trace.ts), and lays every round trip over the GC
 * pauses of both processes (PerformanceObserver 'gc', epoch clocks). Per run: median, p99, p99.9,
 * the slowest 1 % of the round trips split into "a GC pause of the client / the server overlaps
 * it" and "no GC", and each side's scavenges and mark-compacts over the run. Loopback only.
 *
 *   npx tsx bench/rtt-trace.ts                               3 rounds × surewire, socket.io, raw ws
 *   npx tsx bench/rtt-trace.ts --rounds 5 --stacks surewire
 *   npx tsx bench/rtt-trace.ts --stacks raw-surewire,raw-ws   surewire's server with a raw `ws` client speaking its protocol
 *   npx tsx bench/rtt-trace.ts --variant old=/tmp/base --variant new=.   A/B: the same runs, interleaved,
 *                                              with the worker built from each tree's src/ and bench/suite/
 *   npx tsx bench/rtt-trace.ts --client-args=--max-semi-space-size=4 --server-args=--trace-gc
 *   npx tsx bench/rtt-trace.ts --dump /tmp/trips   also write each run's round trips and GC pauses as JSON
 *   npx tsx bench/rtt-trace.ts --client-args=--trace-opt --stdout /tmp/out   each worker's stdout to a file,
 *                                              `=== measure` / `=== measured` marking the measured span
 *   npx tsx bench/rtt-trace.ts --prof /tmp/prof      CPU profiles (client, server) of the measured span only
 */
import { fork, type StdioOptions } from 'node:child_process'
import { mkdirSync, openSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { GcPause, TraceClientResult, TraceImpl } from './suite/trace'
import { quantile, summarize, type SoloStack } from './suite/shared'
import { NODE_WORKER_BUILD } from './suite/procs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const argv = process.argv.slice(2)
const all = (name: string): string[] =>
  argv.flatMap((a, i) => (a === `--${name}` ? [argv[i + 1]!] : a.startsWith(`--${name}=`) ? [a.slice(name.length + 3)] : []))
const one = (name: string, fallback: string) => all(name)[0] ?? fallback

const ROUNDS = Number(one('rounds', '3'))
const N = Number(one('n', '5000'))
const WARM = Number(one('warm', '500'))
/** A stack's server with its own client; `raw-surewire`: surewire's server with a raw `ws` client speaking its protocol. */
type Stack = SoloStack | 'raw-surewire'
const STACKS = one('stacks', 'surewire,socketio,raw-ws').split(',') as Stack[]
const SERVER_ARGS = all('server-args')
const CLIENT_ARGS = all('client-args')
const DUMP = all('dump')[0]
/** `--stdout DIR`: each worker's stdout (V8's --trace-* output, with `=== measure` / `=== measured` marks) to a file there. */
const OUT_DIR = all('stdout')[0]
let outCount = 0
/** `--prof DIR`: a CPU profile of each worker over the measured round trips only (inspector, 50 µs sampling). */
const PROF_DIR = all('prof')[0]
let profCount = 0
const VARIANTS = (all('variant').length ? all('variant') : ['current=.']).map((v) => {
  const [name, dir] = v.split('=') as [string, string]
  return { name, dir: resolve(ROOT, dir), out: join(ROOT, 'node_modules/.cache/surewire-trace', name) }
})
const IMPL: Record<Stack, TraceImpl> = { surewire: 'surewire-ws', socketio: 'socketio-ws', 'raw-ws': 'raw-ws', 'raw-surewire': 'raw-surewire' }
const SERVER: Record<Stack, SoloStack> = { surewire: 'surewire', socketio: 'socketio', 'raw-ws': 'raw-ws', 'raw-surewire': 'surewire' }

async function buildVariant(v: (typeof VARIANTS)[number]): Promise<void> {
  await build({ ...NODE_WORKER_BUILD, entryPoints: { trace: join(v.dir, 'bench/suite/trace.ts') }, outdir: v.out, nodePaths: [join(ROOT, 'node_modules')] })
}

/** The next IPC message of `p` that is not a mark (marks are relayed to `relay`: where the client starts and stops measuring). */
function message<T>(p: ReturnType<typeof fork>, relay?: ReturnType<typeof fork>): Promise<T> {
  return new Promise((res, rej) => {
    const on = (m: unknown) => {
      const what = (m as { mark?: string }).mark
      if (what === undefined) return p.off('message', on), res(m as T)
      relay?.send({ cmd: 'mark', what })
    }
    p.on('message', on)
    p.once('exit', (code) => rej(new Error(`worker exited (${code})`)))
  })
}

interface Run {
  variant: string
  stack: Stack
  trips: [number, number][]
  clientGc: GcPause[]
  serverGc: GcPause[]
  cpuUs: number
  cpuPer1000: number[]
  /** The server process's CPU from the client's first measured trip to its last (marks relayed over IPC), µs. */
  serverCpuUs: number
  /** The same per 1,000 trips (the client's marks, relayed). */
  serverCpuPer1000: number[]
}

async function runOnce(variant: (typeof VARIANTS)[number], stack: Stack): Promise<Run> {
  const entry = join(variant.out, 'trace.mjs')
  const stdio = (side: string) => (OUT_DIR ? ['ignore', openSync(join(OUT_DIR, `${String(++outCount).padStart(3, '0')}-${variant.name}-${stack}-${side}.txt`), 'w'), 'inherit', 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc']) as StdioOptions
  const env = { ...process.env, RTT_TRACE_MARK: OUT_DIR ? '1' : '', RTT_TRACE_PROF: PROF_DIR ? join(PROF_DIR, `${String(++profCount).padStart(3, '0')}-${variant.name}-${stack}`) : '' }
  const srv = fork(entry, ['server', SERVER[stack]], { execArgv: SERVER_ARGS, stdio: stdio('server'), env })
  try {
    const { port } = await message<{ port: number }>(srv)
    const cli = fork(entry, ['client', IMPL[stack], String(port), String(N), String(WARM)], { execArgv: CLIENT_ARGS, stdio: stdio('client'), env })
    const res = await message<TraceClientResult>(cli, srv)
    srv.send({ cmd: 'gc' })
    const { gc, cpu } = await message<{ gc: GcPause[]; cpu: number[] }>(srv)
    const from = res.trips[0]![0]
    const to = res.trips.at(-1)![0] + res.trips.at(-1)![1]
    return { variant: variant.name, stack, trips: res.trips, clientGc: res.gc, serverGc: gc.filter(([s, ms]) => s + ms >= from && s <= to), cpuUs: res.cpuUs, cpuPer1000: res.cpuPer1000, serverCpuUs: cpu.reduce((a, c) => a + c, 0), serverCpuPer1000: cpu }
  } finally {
    // Asked to exit (a --cpu-prof profile is written on a normal exit only); killed if it has not within 5 s.
    const gone = new Promise((r) => srv.once('exit', r))
    const timer = setTimeout(() => srv.kill('SIGKILL'), 5_000)
    if (srv.connected) srv.send({ cmd: 'exit' })
    await gone
    clearTimeout(timer)
  }
}

const overlaps = (s: number, d: number, gc: GcPause[]) => gc.some(([g, gd]) => g < s + d && g + gd > s)
const us = (ms: number) => Math.round(ms * 1000)

function analyse(r: Run) {
  const durs = r.trips.map(([, d]) => d).sort((a, b) => a - b)
  const p99 = quantile(durs, 0.99)
  const slow = r.trips.map((t, i) => ({ i, s: t[0], d: t[1] })).filter((t) => t.d >= p99)
  let cgc = 0
  let sgc = 0
  let none = 0
  for (const t of slow) {
    const c = overlaps(t.s, t.d, r.clientGc)
    const sv = overlaps(t.s, t.d, r.serverGc)
    if (c) cgc++
    if (sv) sgc++
    if (!c && !sv) none++
  }
  const gcStats = (gc: GcPause[]) => {
    const minor = gc.filter((g) => g[2] === 1)
    const major = gc.filter((g) => g[2] === 2)
    const total = gc.reduce((a, g) => a + g[1], 0)
    const max = gc.reduce((a, g) => Math.max(a, g[1]), 0)
    return `${minor.length} scav/${major.length} mc ${us(total / Math.max(1, gc.length))}µs avg ${us(max)}µs max`
  }
  // Slow trips per 500-trip slice: periodic causes spread evenly, bursts of load bunch up.
  const slices = Array.from({ length: Math.ceil(r.trips.length / 500) }, (_, k) => slow.filter((t) => Math.floor(t.i / 500) === k).length)
  return {
    line: `${r.variant.padEnd(8)} ${r.stack.padEnd(9)} med ${String(us(quantile(durs, 0.5))).padStart(4)} p99 ${String(us(p99)).padStart(5)} p99.9 ${String(us(quantile(durs, 0.999))).padStart(5)} max ${String(us(durs.at(-1)!)).padStart(6)} | slow ${slow.length}: cGC ${cgc} sGC ${sgc} none ${none} | client ${gcStats(r.clientGc)} | server ${gcStats(r.serverGc)} | CPU/rt client ${Math.round(r.cpuUs / r.trips.length)}µs (per 1,000: ${r.cpuPer1000.map((c) => Math.round(c / 1000)).join(',')}) server ${Math.round(r.serverCpuUs / r.trips.length)}µs (${r.serverCpuPer1000.map((c) => Math.round(c / 1000)).join(',')}) | per-500 ${slices.join(',')}`,
    median: quantile(durs, 0.5),
    p99,
  }
}

for (const v of VARIANTS) await buildVariant(v)
if (DUMP) mkdirSync(DUMP, { recursive: true })
if (OUT_DIR) mkdirSync(OUT_DIR, { recursive: true })
if (PROF_DIR) mkdirSync(PROF_DIR, { recursive: true })
const summary = new Map<string, { median: number[]; p99: number[] }>()
let k = 0
for (let round = 0; round < ROUNDS; round++) {
  for (const stack of STACKS) {
    for (const v of round % 2 ? [...VARIANTS].reverse() : VARIANTS) {
      const r = await runOnce(v, stack)
      const a = analyse(r)
      console.log(a.line)
      const key = `${v.name} ${stack}`
      const s = summary.get(key) ?? { median: [], p99: [] }
      s.median.push(a.median)
      s.p99.push(a.p99)
      summary.set(key, s)
      if (DUMP) writeFileSync(join(DUMP, `${String(++k).padStart(3, '0')}-${v.name}-${stack}.json`), JSON.stringify(r))
    }
  }
}
console.log('\nmedian over rounds (min–max), µs')
for (const [key, s] of summary) {
  const f = (x: number[]) => {
    const { median, min, max } = summarize(x) // as bench/RESULTS.md computes it
    return `${us(median)} (${us(min)}–${us(max)})`
  }
  console.log(`${key.padEnd(20)} median ${f(s.median).padEnd(16)} p99 ${f(s.p99)}`)
}
