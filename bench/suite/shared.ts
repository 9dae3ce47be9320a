/**
 * What the bench server and client workers share: the messages they exchange,
 * the schemas, the task descriptions the runner hands to a client worker, and
 * small statistics helpers.
 */
import { z } from 'zod'
import type { Socket } from 'socket.io-client'
import type { StandardSchemaV1 } from '../../src/index'

/** Every message the bench sends either way. Small JSON, as a dashboard or chat would send. */
export type BenchMsg =
  | { type: 'welcome'; id: string }
  | { type: 'tick'; n: number }
  | { type: 'echo'; n: number }
  | { type: 'push'; n: number }
  | { type: 'count'; n: number; of: number }
  | { type: 'done'; n: number }

/** "No schema": a Standard Schema that accepts anything, so only surewire's own work is measured. */
export const passthrough: StandardSchemaV1<BenchMsg, BenchMsg> = {
  '~standard': { version: 1, vendor: 'bench', validate: (value) => ({ value: value as BenchMsg }) },
}

/** The zod schema for measurement 6: a discriminated union of five server → client message types. */
export const zodIncoming = z.discriminatedUnion('type', [
  z.object({ type: z.literal('welcome'), id: z.string() }),
  z.object({ type: z.literal('tick'), n: z.number().int() }),
  z.object({ type: z.literal('echo'), n: z.number().int() }),
  z.object({ type: z.literal('done'), n: z.number().int() }),
  z.object({ type: z.literal('chat'), from: z.string(), text: z.string().max(10_000) }),
])

/** Server push: `n` messages, written in bursts of this many per event-loop turn (as a busy broadcaster would). */
export const PUSH_BURST = 100

/** What the server worker reports once it listens. All on 127.0.0.1. */
export interface ServerPorts {
  surewire: number
  socketio: number
  rawWs: number
  rawSse: number
  /** Test proxies (test/support/proxy.ts) in front of the surewire and socket.io servers, one per mode. */
  proxies: Record<'surewire' | 'socketio', Record<ProxyModeName, number>>
}
export type ProxyModeName = 'pass' | 'refuse' | 'hang'

/** Runner → server worker requests; each is answered with `{ id, result }`. */
export type ServerRequest =
  | { id: number; cmd: 'cpu' }
  | { id: number; cmd: 'proxyStats' }
  | { id: number; cmd: 'exit' }

/** `-batched`: the raw server writes the messages of one tick in one write, as surewire's server does. */
export type PushImpl = 'surewire-ws' | 'surewire-sse' | 'socketio-ws' | 'raw-ws' | 'raw-sse' | 'raw-ws-batched' | 'raw-sse-batched'
export type C2sImpl = 'surewire-ws' | 'surewire-post' | 'surewire-post-unbatched' | 'socketio-ws' | 'raw-ws'
export type RttImpl = 'surewire-ws' | 'surewire-sse' | 'socketio-ws' | 'raw-ws'
export type HeapImpl = 'surewire-ws' | 'surewire-sse' | 'socketio-default' | 'socketio-ws' | 'raw-ws'
/**
 * Connect configurations. surewire: default options; `-remembered` has a storage
 * that already says "WebSocket is blocked here"; `-sse` forces SSE (the direct
 * SSE connect the remembered case should match). socket.io: `default` options
 * (HTTP long-polling first, then upgrade), `ws-first-tryall` = transports
 * ['websocket', 'polling'] + tryAllTransports: true, `ws-first` the same without tryAllTransports.
 */
export type ConnectImpl = 'surewire' | 'surewire-remembered' | 'surewire-sse' | 'socketio-default' | 'socketio-ws-first-tryall' | 'socketio-ws-first'

export type Task =
  | { kind: 'push'; impl: PushImpl; n: number; warm: number; schema: 'none' | 'zod' }
  | { kind: 'c2s'; impl: C2sImpl; n: number; warm: number }
  /**
   * All `impls` connected at once from one process, their round trips interleaved, so load on the machine hits each alike.
   * `again`: after the `n` measured ones, measure `again` more as a second figure (`byImpl[impl].again`): by then every
   * stack's hot path has long been compiled, so it shows the steady state without the processes' JIT warm-up.
   */
  | { kind: 'rtt'; impls: RttImpl[]; n: number; warm: number; again?: number }
  | {
      kind: 'connect'
      impl: ConnectImpl
      mode: ProxyModeName
      /** 0: one cold sample (the first connection of this process); k > 0: one unmeasured connection, then k warm samples. */
      warm: number
      limitMs: number
      /** File-backed storage for the remembered case across processes. */
      storageFile?: string
    }
  | {
      kind: 'heap'
      impl: HeapImpl
      clients: number
      /** Also write V8 heap snapshots (base.heapsnapshot, loaded.heapsnapshot) here (bench/heap-snapshot.ts). */
      snapshotDir?: string
    }
  | { kind: 'validate'; n: number }
  /** The first and second fetch() of a fresh process, against the surewire server. */
  | { kind: 'fetch' }

/** Client worker → runner. */
export type TaskResult =
  | { kind: 'throughput'; ms: number; cpuUs: number; n: number }
  | { kind: 'rtt'; byImpl: Partial<Record<RttImpl, RttFigures & { again?: RttFigures }>>; n: number }
  | {
      kind: 'connect'
      samples: { ms: number; opened: string; error?: string }[]
      /** Warm runs: the unmeasured first connection failed, so no warm samples were taken. */
      primerError?: string
    }
  | { kind: 'heap'; perConnBytes: number; clients: number; baseHeap: number; heap: number }
  | { kind: 'validate'; zodUs: number; noneUs: number; n: number }
  | { kind: 'fetch'; firstMs: number; secondMs: number }

/** Median and p99 of a run of round trips, ms. */
export interface RttFigures {
  median: number
  p99: number
}

/**
 * One echo round trip at a time: `once(n)` sends echo n and settles when `got(n)` is called for it
 * (the peer's message handler calls `got` with each echo's number). Shared by section 3/8 and the trace.
 */
export function echoWaiter(send: (n: number) => void): { once(n: number): Promise<void>; got(n: number): void } {
  let waiting: (() => void) | null = null
  let expect = -1
  return {
    once: (n) =>
      new Promise<void>((resolve) => {
        waiting = resolve
        expect = n
        send(n)
      }),
    got(n) {
      if (n === expect && waiting) {
        const w = waiting
        waiting = null
        w()
      }
    },
  }
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i]!
}

export interface Summary {
  median: number
  min: number
  max: number
  /** Finite values / all values. */
  ok: number
  of: number
}

export function summarize(values: number[]): Summary {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b)
  const mid = v.length >> 1
  const median = v.length === 0 ? NaN : v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2
  return { median, min: v[0] ?? NaN, max: v[v.length - 1] ?? NaN, ok: v.length, of: values.length }
}

// ------------------------------------------------------------------ one stack alone (solo.ts) and client fleets (fleet.ts)

/** The server stack a solo.ts worker runs alone. */
export type SoloStack = 'surewire' | 'socketio' | 'raw-ws'
/** What solo.ts reports once it listens on 127.0.0.1. */
export interface SoloReady {
  port: number
}
/** Runner → solo.ts; each is answered with `{ id, result }` (or `{ id, error }`). */
export type SoloRequest =
  /** Process CPU (user + system), µs. */
  | { id: number; cmd: 'cpu' }
  /** Clients connected right now. */
  | { id: number; cmd: 'connections' }
  /** `heapUsed` after GC (needs --expose-gc). */
  | { id: number; cmd: 'heap' }
  /** GC, then a V8 heap snapshot to `file`. */
  | { id: number; cmd: 'snapshot'; file: string }
  /** `n` broadcasts to every client (`tick` 1..n), `burst` per event-loop turn; answers the start time (epoch ms). */
  | { id: number; cmd: 'broadcast'; n: number; burst: number }
  | { id: number; cmd: 'exit' }

/**
 * Idle-connection clients of fleet.ts. `socketio-default`: polling first, idle after the upgrade
 * to websocket; `socketio-ws`: transports: ['websocket'].
 */
export type FleetImpl = 'surewire-ws' | 'surewire-sse' | 'socketio-ws' | 'socketio-default' | 'raw-ws'
export interface FleetTask {
  impl: FleetImpl
  port: number
  clients: number
}
/** Runner → fleet.ts: count `tick`s until every client has `n` (answered with `done`), or close everything and exit. */
export type FleetCommand = { cmd: 'expect'; n: number } | { cmd: 'close' }
/** fleet.ts → runner. `done.at`: epoch ms (performance.timeOrigin + now) when the last client got its n-th tick. */
export type FleetReport = { ready: true } | { armed: true } | { done: { at: number; cpuUs: number } }

/** This process's CPU time so far (user + system), µs. */
export const cpuNow = (): number => {
  const u = process.cpuUsage()
  return u.user + u.system
}

/** V8 `heapUsed` after a few full GCs (the process must run with `--expose-gc`). */
export async function heapAfterGc(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) throw new Error('run with --expose-gc')
  for (let i = 0; i < 4; i++) {
    gc()
    await new Promise((r) => setImmediate(r))
  }
  return process.memoryUsage().heapUsed
}

/** A socket.io client is idle once it connected and, when it started on long-polling, upgraded to WebSocket. */
export function socketIoIdle(socket: Socket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    socket.once('connect', () => {
      if (socket.io.engine.transport.name === 'websocket') resolve()
      else socket.io.engine.once('upgrade', () => resolve())
    })
    socket.once('connect_error', reject)
  })
}
