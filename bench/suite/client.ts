/**
 * Bench client worker: one process per task (started by bench/run.ts with
 * fork()), so its CPU time and heap belong to the client alone. argv[2] is the
 * Task, argv[3] the server's ports (JSON). Sends one TaskResult to the parent
 * and exits.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeHeapSnapshot } from 'node:v8'
import { createParser } from 'eventsource-parser'
import { io, type ManagerOptions, type SocketOptions } from 'socket.io-client'
import { WebSocket } from 'ws'
import { RealtimeClient, type KeyValueStorage, type StandardSchemaV1, type StatusEvent, type WebSocketConstructor } from '../../src/index'
import type { TransportKind } from '../../src/client/transport'
import { rawWsPeer, socketIoPeer, surewirePeer, type Peer } from './peers'
import { cpuNow, echoWaiter, heapAfterGc, passthrough, quantile, socketIoIdle, zodIncoming, type BenchMsg, type RttFigures, type ServerPorts, type Task, type TaskResult } from './shared'

const task = JSON.parse(process.argv[2]!) as Task
const ports = JSON.parse(process.argv[3]!) as ServerPorts
const WS = WebSocket as unknown as WebSocketConstructor
const noop = () => {}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function peerFor(impl: string, incoming?: StandardSchemaV1): Peer {
  switch (impl) {
    case 'surewire-ws':
      return surewirePeer(ports.surewire, ['websocket'], incoming)
    case 'surewire-sse':
    case 'surewire-post':
    case 'surewire-post-unbatched':
      return surewirePeer(ports.surewire, ['sse'], incoming)
    case 'socketio-ws':
      return socketIoPeer(ports.socketio)
    case 'raw-ws':
      return rawWsPeer(ports.rawWs)
    case 'raw-ws-batched':
      return rawWsPeer(ports.rawWs, '/batched')
  }
  throw new Error(`no peer for ${impl}`)
}

/** A promise plus its resolver, for "the n-th message arrived". */
function latch(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve = noop
  let reject: (e: Error) => void = noop
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

// ------------------------------------------------------------------ 1, 6: server → client push

/** Raw fetch + eventsource-parser: read one stream of n ticks to its end. */
async function rawSseStream(n: number, batched: boolean): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${ports.rawSse}/sse?n=${n}${batched ? '&batch=1' : ''}`, { headers: { Accept: 'text/event-stream' } })
  let got = 0
  const parser = createParser({
    onEvent(ev) {
      if ((JSON.parse(ev.data) as BenchMsg).type === 'tick') got++
    },
  })
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    parser.feed(decoder.decode(value, { stream: true }))
  }
  if (got !== n) throw new Error(`raw SSE: ${got} of ${n} messages`)
}

async function push(t: Extract<Task, { kind: 'push' }>): Promise<TaskResult> {
  let run: (n: number) => Promise<void>
  let close = noop
  if (t.impl === 'raw-sse' || t.impl === 'raw-sse-batched') run = (n) => rawSseStream(n, t.impl === 'raw-sse-batched')
  else {
    const peer = peerFor(t.impl, t.schema === 'zod' ? zodIncoming : passthrough)
    await peer.ready
    close = () => peer.close()
    let got = 0
    let want = 0
    let done = latch()
    peer.onMessage = (m) => {
      if (m.type === 'tick' && ++got === want) done.resolve()
    }
    peer.onLost = (why) => done.reject(new Error(`${t.impl} push: ${got.toLocaleString('en-US')} of ${want.toLocaleString('en-US')} messages, then ${why}`))
    run = async (n) => {
      got = 0
      want = n
      done = latch()
      void peer.send({ type: 'push', n })
      await done.promise
    }
  }
  await run(t.warm) // JIT, lazy modules, buffers
  const c0 = cpuNow()
  const t0 = performance.now()
  await run(t.n)
  const ms = performance.now() - t0
  const cpuUs = cpuNow() - c0
  close()
  return { kind: 'throughput', ms, cpuUs, n: t.n }
}

// ------------------------------------------------------------------ 2: client → server

/** surewire's queue holds 1,000 unacked messages by default; the sender keeps at most that many in flight. */
const WINDOW = 1000

async function c2s(t: Extract<Task, { kind: 'c2s' }>): Promise<TaskResult> {
  const peer = peerFor(t.impl)
  await peer.ready
  let done = latch()
  peer.onMessage = (m) => {
    if (m.type === 'done') done.resolve()
  }
  const run = async (n: number) => {
    done = latch()
    if (t.impl === 'surewire-post-unbatched') {
      // One message per POST: wait for each to be acked (its POST answered) before the next.
      for (let i = 1; i <= n; i++) await peer.send({ type: 'count', n: i, of: n })
    } else if (t.impl.startsWith('surewire')) {
      const sent: Promise<void>[] = []
      for (let i = 0; i < n; i++) {
        if (i >= WINDOW) await sent[i - WINDOW]
        sent.push(peer.send({ type: 'count', n: i + 1, of: n }) as Promise<void>)
      }
      await sent[n - 1]
    } else {
      for (let i = 1; i <= n; i++) void peer.send({ type: 'count', n: i, of: n })
    }
    await done.promise
  }
  await run(t.warm)
  const c0 = cpuNow()
  const t0 = performance.now()
  await run(t.n)
  const ms = performance.now() - t0
  const cpuUs = cpuNow() - c0
  peer.close()
  return { kind: 'throughput', ms, cpuUs, n: t.n }
}

// ------------------------------------------------------------------ 3: round trip

function figures(samples: number[]): RttFigures {
  samples.sort((a, b) => a - b)
  return { median: quantile(samples, 0.5), p99: quantile(samples, 0.99) }
}

async function rtt(t: Extract<Task, { kind: 'rtt' }>): Promise<TaskResult> {
  const stacks = t.impls.map((impl) => {
    const peer = peerFor(impl)
    const { once, got } = echoWaiter((n) => void peer.send({ type: 'echo', n }))
    peer.onMessage = (m) => {
      if (m.type === 'echo') got(m.n)
    }
    return { impl, peer, once, samples: [] as number[] }
  })
  await Promise.all(stacks.map((s) => s.peer.ready))
  for (let i = 0; i < t.warm; i++) for (const s of stacks) await s.once(i)
  const measure = async (from: number, n: number) => {
    for (const s of stacks) s.samples = []
    for (let i = 0; i < n; i++) {
      for (const s of stacks) {
        const t0 = performance.now()
        await s.once(from + i)
        s.samples.push(performance.now() - t0)
      }
    }
    return stacks.map((s) => figures(s.samples))
  }
  const first = await measure(t.warm, t.n)
  const again = t.again ? await measure(t.warm + t.n, t.again) : undefined
  const byImpl: Extract<TaskResult, { kind: 'rtt' }>['byImpl'] = {}
  stacks.forEach((s, k) => {
    s.peer.close()
    byImpl[s.impl] = { ...first[k]!, ...(again ? { again: again[k]! } : {}) }
  })
  return { kind: 'rtt', byImpl, n: t.n }
}

// ------------------------------------------------------------------ 4: connect() → first message through the proxy

function memoryStorage(): KeyValueStorage {
  const map = new Map<string, string>()
  return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) }
}

/** Storage that outlives the process, as localStorage outlives a page load. */
function fileStorage(path: string): KeyValueStorage {
  const read = (): Record<string, string> => (existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>) : {})
  return {
    getItem: (k) => read()[k] ?? null,
    setItem: (k, v) => writeFileSync(path, JSON.stringify({ ...read(), [k]: v })),
    removeItem: (k) => {
      const all = read()
      delete all[k]
      writeFileSync(path, JSON.stringify(all))
    },
  }
}

type Sample = { ms: number; opened: string; error?: string }

async function timeToFirst(
  start: () => { opened: () => string; close: () => void },
  subscribe: (onFirst: () => void) => void,
  limitMs: number,
): Promise<Sample> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const first = new Promise<number>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no message within ${limitMs} ms`)), limitMs)
    subscribe(() => resolve(performance.now()))
  })
  const t0 = performance.now()
  const handle = start()
  try {
    const t1 = await first
    return { ms: t1 - t0, opened: handle.opened() }
  } catch (err) {
    return { ms: NaN, opened: handle.opened(), error: (err as Error).message }
  } finally {
    clearTimeout(timer)
    handle.close()
  }
}

function connectSurewire(port: number, impl: string, storage: KeyValueStorage, limitMs: number): Promise<Sample> {
  const client = new RealtimeClient({
    url: `http://127.0.0.1:${port}/realtime`,
    incoming: passthrough,
    outgoing: passthrough,
    WebSocket: WS,
    storage,
    ...(impl === 'surewire-sse' ? { transports: ['sse'] as TransportKind[] } : {}),
  })
  let opened = 'none'
  client.on('status', (e: StatusEvent) => {
    if (e.status === 'open') opened = `${e.transport} (${e.reason})`
  })
  client.on('error', noop)
  return timeToFirst(
    () => {
      client.connect().catch(noop)
      return { opened: () => opened, close: () => client.close() }
    },
    (onFirst) => void client.once('message', onFirst),
    limitMs,
  )
}

function connectSocketIo(port: number, impl: string, limitMs: number): Promise<Sample> {
  const opts: Partial<ManagerOptions & SocketOptions> =
    impl === 'socketio-default'
      ? {}
      : impl === 'socketio-ws-first-tryall'
        ? { transports: ['websocket', 'polling'], tryAllTransports: true }
        : { transports: ['websocket', 'polling'] }
  const socket = io(`http://127.0.0.1:${port}`, { forceNew: true, ...opts, autoConnect: false })
  let opened = 'none'
  return timeToFirst(
    () => {
      socket.connect()
      return { opened: () => opened, close: () => void socket.disconnect() }
    },
    (onFirst) =>
      void socket.once('welcome', () => {
        opened = socket.io.engine?.transport?.name ?? '?'
        onFirst()
      }),
    limitMs,
  )
}

async function connect(t: Extract<Task, { kind: 'connect' }>): Promise<TaskResult> {
  const isIo = t.impl.startsWith('socketio')
  const port = ports.proxies[isIo ? 'socketio' : 'surewire'][t.mode]
  const once = (storage: KeyValueStorage) => (isIo ? connectSocketIo(port, t.impl, t.limitMs) : connectSurewire(port, t.impl, storage, t.limitMs))
  const samples: Sample[] = []
  if (t.warm === 0) {
    samples.push(await once(t.storageFile ? fileStorage(t.storageFile) : memoryStorage()))
  } else {
    // Remembered: every client shares one storage, primed by the first (unmeasured) connection.
    const shared = memoryStorage()
    const storage = () => (t.impl === 'surewire-remembered' ? shared : memoryStorage())
    const primer = await once(storage())
    if (!Number.isFinite(primer.ms)) return { kind: 'connect', samples: [], primerError: primer.error ?? 'failed' } // nothing to warm up with
    for (let i = 0; i < t.warm; i++) {
      await sleep(20) // let the previous connection's teardown finish
      samples.push(await once(storage()))
    }
  }
  return { kind: 'connect', samples }
}

// ------------------------------------------------------------------ 5: heap per idle connection

function idleConnection(impl: string): { ready: Promise<unknown>; close(): void } {
  if (impl === 'socketio-default') {
    const socket = io(`http://127.0.0.1:${ports.socketio}`, { forceNew: true, reconnection: false })
    const ready = socketIoIdle(socket)
    return { ready, close: () => void socket.disconnect() }
  }
  const peer = peerFor(impl)
  return { ready: peer.ready, close: () => peer.close() }
}

async function heap(t: Extract<Task, { kind: 'heap' }>): Promise<TaskResult> {
  const warm = idleConnection(t.impl) // loads lazy modules (ws, undici) before the baseline
  await warm.ready
  warm.close()
  await sleep(200)
  const baseHeap = await heapAfterGc()
  if (t.snapshotDir) writeHeapSnapshot(join(t.snapshotDir, 'base.heapsnapshot'))
  const conns: { ready: Promise<unknown>; close(): void }[] = []
  for (let i = 0; i < t.clients; i += 100) {
    const batch = Array.from({ length: Math.min(100, t.clients - i) }, () => idleConnection(t.impl))
    conns.push(...batch)
    await Promise.all(batch.map((c) => c.ready))
  }
  await sleep(500) // welcome messages, upgrades, first timers
  const heap = await heapAfterGc()
  if (t.snapshotDir) writeHeapSnapshot(join(t.snapshotDir, 'loaded.heapsnapshot'))
  for (const c of conns) c.close()
  return { kind: 'heap', perConnBytes: (heap - baseHeap) / t.clients, clients: t.clients, baseHeap, heap }
}

// ------------------------------------------------------------------ 6: validation in isolation

function validate(t: Extract<Task, { kind: 'validate' }>): TaskResult {
  const samples: unknown[] = [
    { type: 'welcome', id: 'c1' },
    { type: 'tick', n: 1 },
    { type: 'echo', n: 2 },
    { type: 'done', n: 3 },
    { type: 'chat', from: 'c2', text: 'hello there' },
  ]
  const per = (schema: StandardSchemaV1) => {
    const v = schema['~standard'].validate
    let sink = 0
    const loop = (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = v(samples[i % 5]) as StandardSchemaV1.Result<unknown>
        if (!r.issues) sink++
      }
    }
    loop(Math.min(50_000, t.n)) // warm-up
    const t0 = performance.now()
    loop(t.n)
    const us = ((performance.now() - t0) * 1000) / t.n
    if (sink < t.n) throw new Error('a valid message failed validation')
    return us
  }
  return { kind: 'validate', zodUs: per(zodIncoming), noneUs: per(passthrough), n: t.n }
}

// ------------------------------------------------------------------ the first fetch() of a process

async function firstFetch(): Promise<TaskResult> {
  const url = `http://127.0.0.1:${ports.surewire}/not-realtime`
  const timed = async () => {
    const t0 = performance.now()
    const res = await fetch(url)
    await res.arrayBuffer()
    return performance.now() - t0
  }
  const firstMs = await timed()
  return { kind: 'fetch', firstMs, secondMs: await timed() }
}

// ------------------------------------------------------------------ main

async function main(): Promise<TaskResult> {
  switch (task.kind) {
    case 'push':
      return push(task)
    case 'c2s':
      return c2s(task)
    case 'rtt':
      return rtt(task)
    case 'connect':
      return connect(task)
    case 'heap':
      return heap(task)
    case 'validate':
      return validate(task)
    case 'fetch':
      return firstFetch()
  }
}

main().then(
  (result) => process.send!(result, () => process.exit(0)),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
