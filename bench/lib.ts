/**
 * Shared setup for benchmarks: the node-chat server (it sends a `welcome` on
 * connection), the misbehaving test proxy in front of it, and a fresh client
 * per measurement. Everything on 127.0.0.1.
 */
import type { KeyValueStorage, StatusEvent } from '../src/index'
import { startProxy, type ProxyMode, type TestProxy } from '../test/support/proxy'
import { createChatClient, type ChatClientOptions } from '../examples/node-chat/client'
import { startChatServer, type ChatServer } from '../examples/node-chat/server'

/** A fresh, empty storage for the client's blocked-WebSocket memory (so runs do not share it). */
export function freshStorage(): KeyValueStorage {
  const map = new Map<string, string>()
  return {
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  }
}

export interface Rig {
  server: ChatServer
  /** A proxy in `mode` in front of the server (one per mode, created on first use). */
  proxy(mode: ProxyMode): Promise<TestProxy>
  close(): Promise<void>
}

export async function startRig(): Promise<Rig> {
  const server = await startChatServer()
  const proxies = new Map<ProxyMode, TestProxy>()
  return {
    server,
    async proxy(mode) {
      let p = proxies.get(mode)
      if (!p) proxies.set(mode, (p = await startProxy({ targetPort: server.port, mode, refuseStatus: 400 })))
      return p
    },
    async close() {
      await Promise.all([...proxies.values()].map((p) => p.close()))
      await server.close()
    },
  }
}

export interface Sample {
  /** connect() → first server message, in ms; NaN if the run failed. */
  ms: number
  /** Transport and reason of the `open` status event, e.g. `sse (ws_refused)`. */
  opened: string
  error?: string
}

/**
 * Time from `connect()` to the first server message for a new client at `url`
 * (default options apart from `options`), then close it.
 */
export async function timeToFirstMessage(url: string, options: ChatClientOptions, limitMs = 15_000): Promise<Sample> {
  const client = createChatClient(url, options)
  let opened = '?'
  client.on('status', (e: StatusEvent) => {
    if (e.status === 'open') opened = `${e.transport} (${e.reason})`
  })
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    const start = performance.now()
    const first = new Promise<number>((resolve, reject) => {
      client.once('message', () => resolve(performance.now() - start))
      timer = setTimeout(() => reject(new Error(`no message within ${limitMs} ms`)), limitMs)
    })
    client.connect().catch(() => {}) // a failure shows up as the timeout above
    return { ms: await first, opened }
  } catch (err) {
    return { ms: NaN, opened, error: (err as Error).message }
  } finally {
    clearTimeout(timer)
    client.close()
  }
}

/** Median, min and max of the finite values. */
export function summarize(values: number[]): { median: number; min: number; max: number; n: number } {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 }
  const mid = v.length >> 1
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length }
}
