/**
 * Worker of bench/rtt-trace.ts (where the round-trip tail comes from). Two roles, one process each:
 *
 *   trace.mjs server <stack>                 one stack's server alone (app.ts, as solo.ts), noting its GC pauses
 *   trace.mjs client <impl> <port> <n> <warm> sequential echo round trips (as client.ts's rtt task), noting
 *                                            each round trip's start and duration and the client's GC pauses
 *
 * Times are epoch milliseconds (`performance.timeOrigin + now()`), so the runner can lay the
 * client's round trips over both processes' GC pauses. Talks to the runner over IPC.
 */
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { Session } from 'node:inspector'
import { PerformanceObserver } from 'node:perf_hooks'
import { listen, rawWsApp, socketIoApp, surewireApp } from './app'
import { rawSurewirePeer, rawWsPeer, socketIoPeer, surewirePeer, type Peer } from './peers'
import { cpuNow, echoWaiter, type RttImpl, type SoloStack } from './shared'

/** One GC pause: start (epoch ms), duration (ms), V8's kind (1 minor/scavenge, 2 major, 4 incremental, 8 weak callbacks). */
export type GcPause = [start: number, ms: number, kind: number]
/** What the client role reports: each measured round trip as [start epoch ms, duration ms]. */
export interface TraceClientResult {
  trips: [number, number][]
  gc: GcPause[]
  /** Process CPU (user + system) over the measured trips, µs. */
  cpuUs: number
  /** The same for each 1,000 measured trips. */
  cpuPer1000: number[]
}

const epoch = (t: number) => performance.timeOrigin + t

/** Collect this process's GC pauses from now on. */
function watchGc(): GcPause[] {
  const out: GcPause[] = []
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) out.push([epoch(e.startTime), e.duration, ((e as { detail?: { kind?: number } | null }).detail?.kind ?? 0)])
  }).observe({ entryTypes: ['gc'] })
  return out
}

/**
 * Where measuring starts ('measure') and ends ('measured'). With RTT_TRACE_MARK set: a line on
 * stdout between V8's --trace-* lines. With RTT_TRACE_PROF=<file prefix>: a CPU profile of just
 * that span (inspector, 50 µs sampling), written to `<prefix>-<role>.cpuprofile`.
 */
function mark(what: 'measure' | 'measured'): void {
  if (process.env.RTT_TRACE_MARK) process.stdout.write(`=== ${what} ${epoch(performance.now())}\n`)
  const prof = process.env.RTT_TRACE_PROF
  if (!prof) return
  if (what === 'measure') {
    inspector ??= new Session()
    inspector.connect()
    inspector.post('Profiler.enable')
    inspector.post('Profiler.setSamplingInterval', { interval: 50 })
    inspector.post('Profiler.start')
  } else {
    inspector?.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(`${prof}-${process.argv[2]}.cpuprofile`, JSON.stringify(res.profile))
    })
  }
}
let inspector: Session | undefined
/** RTT_TRACE_TRIPS=1 (with RTT_TRACE_MARK): also a line every 10 measured trips, with the 10th one's µs, to place V8's trace lines. */
const TRIP_MARKS = process.env.RTT_TRACE_MARK && process.env.RTT_TRACE_TRIPS


async function server(stack: SoloStack): Promise<void> {
  const http = createServer((_req, res) => res.writeHead(404).end())
  if (stack === 'surewire') surewireApp(http)
  else if (stack === 'socketio') socketIoApp(http)
  else rawWsApp(http)
  const port = await listen(http)
  const gc = watchGc()
  const cpu: number[] = []
  process.on('message', (m: { cmd: 'gc' | 'exit' | 'mark'; what?: string }) => {
    if (m.cmd === 'mark') {
      cpu.push(cpuNow())
      if (m.what !== 'thousand') mark(m.what as 'measure' | 'measured')
    } else if (m.cmd === 'gc') process.send!({ gc, cpu: cpu.slice(1).map((c, i) => c - cpu[i]!) })
    else setTimeout(() => process.exit(0), process.env.RTT_TRACE_PROF ? 200 : 0) // the profile is written asynchronously
  })
  process.on('disconnect', () => process.exit(0))
  process.send!({ port })
}

/** The round-trip client: one of the bench's stacks, or `raw-surewire` (raw `ws` speaking surewire's protocol). */
export type TraceImpl = RttImpl | 'raw-surewire'

function peer(impl: TraceImpl, port: number): Peer {
  if (impl === 'surewire-ws') return surewirePeer(port, ['websocket'])
  if (impl === 'socketio-ws') return socketIoPeer(port)
  if (impl === 'raw-ws') return rawWsPeer(port)
  if (impl === 'raw-surewire') return rawSurewirePeer(port)
  throw new Error(`no trace peer for ${impl}`)
}

async function client(impl: TraceImpl, port: number, n: number, warm: number): Promise<void> {
  const p = peer(impl, port)
  await p.ready
  const { once, got } = echoWaiter((i) => void p.send({ type: 'echo', n: i }))
  p.onMessage = (m) => m.type === 'echo' && got(m.n)
  // A reset (surewire) means an echo will never come: end with the cause rather than hang.
  p.onLost = (why) => {
    console.error(`trace client ${impl}: ${why}`)
    process.exit(1)
  }
  for (let i = 0; i < warm; i++) await once(i)
  const gc = watchGc()
  const trips: [number, number][] = []
  mark('measure')
  process.send!({ mark: 'measure' }) // the runner relays it to the server
  const c0 = cpuNow()
  const cpuPer1000: number[] = []
  let c1000 = c0
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await once(warm + i)
    trips.push([epoch(t0), performance.now() - t0])
    if (TRIP_MARKS && i % 10 === 9) process.stdout.write(`=== trip ${i + 1} ${Math.round(trips[i]![1] * 1000)}\n`)
    if ((i + 1) % 1000 === 0) {
      cpuPer1000.push(-c1000 + (c1000 = cpuNow()))
      if (i + 1 < n) process.send!({ mark: 'thousand' }) // the server notes its CPU too
    }
  }
  const cpuUs = cpuNow() - c0
  mark('measured')
  process.send!({ mark: 'measured' })
  await new Promise((r) => setTimeout(r, process.env.RTT_TRACE_PROF ? 200 : 20)) // the observer (and the profiler) report asynchronously
  const result: TraceClientResult = { trips, gc, cpuUs, cpuPer1000 }
  process.send!(result, () => process.exit(0))
}

const [role, a, b, c, d] = process.argv.slice(2)
if (role === 'server') await server(a as SoloStack)
else if (role === 'client') await client(a as TraceImpl, Number(b), Number(c), Number(d))
else throw new Error(`trace.mjs: unknown role ${role}`)
