/**
 * Misbehaving HTTP/WebSocket proxy for tests, built on raw TCP (node:net) so it
 * can misbehave at any byte. It sits on 127.0.0.1:<random port> in front of an
 * upstream on 127.0.0.1:<targetPort>, sniffs the first request head of each
 * connection and, for WebSocket upgrades, applies the current `mode`:
 *   pass      - forward everything both ways
 *   refuse    - answer `refuseStatus` itself (like nginx without Upgrade support)
 *   hang      - accept, never answer, never contact upstream
 *   blackhole - relay the handshake and the 101 head, then drop every later byte
 *   mute      - relay the handshake, the 101 head and every client → server byte, but drop every
 *               later server → client byte (a path that delivers no frames to the client)
 * Plain HTTP is always piped through. `delayMs` adds per-chunk latency (order
 * preserved), `dropAll()` kills live connections, `stallAll()` freezes them.
 */
import net from 'node:net'
import type { AddressInfo, Socket } from 'node:net'

export type ProxyMode = 'pass' | 'refuse' | 'hang' | 'blackhole' | 'mute'

export interface ProxyOptions {
  targetPort: number
  mode?: ProxyMode
  refuseStatus?: 400 | 403 | 426 | 502
  delayMs?: number
}

export interface ProxyStats {
  connections: number
  upgrades: number
  refused: number
  hung: number
  httpRequests: number
}

export interface TestProxy {
  readonly port: number
  url(path?: string): string
  mode: ProxyMode
  delayMs: number
  readonly stats: ProxyStats
  resetStats(): void
  dropAll(): number
  stallAll(): void
  close(): Promise<void>
}

const HEAD_END = Buffer.from('\r\n\r\n')
const MAX_HEAD = 64 * 1024
const REASONS = { 400: 'Bad Request', 403: 'Forbidden', 426: 'Upgrade Required', 502: 'Bad Gateway' } as const
const noop = (): void => {}

/** One direction of a connection: delivers chunks (and a final FIN) in order, optionally late. */
class Lane {
  /** false once stalled/sealed: later pushes are silently discarded. */
  accepting = true
  private queue: { item: Buffer | 'end'; at: number }[] = []
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly to: Socket,
    private readonly delay: () => number,
  ) {}

  push(item: Buffer | 'end'): void {
    if (!this.accepting) return
    const delay = this.delay()
    if (delay <= 0 && this.queue.length === 0) return this.deliver(item)
    this.queue.push({ item, at: performance.now() + delay })
    this.schedule()
  }

  /** Stop accepting new bytes; already queued bytes are still delivered. */
  seal(): void {
    this.accepting = false
  }

  /** Stop accepting and discard anything queued. */
  stop(): void {
    this.accepting = false
    this.queue = []
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }

  private schedule(): void {
    const next = this.queue[0]
    if (this.timer || !next) return
    this.timer = setTimeout(() => {
      this.timer = null
      const now = performance.now()
      while (this.queue[0] && this.queue[0].at <= now) this.deliver(this.queue.shift()!.item)
      this.schedule()
    }, Math.max(0, next.at - performance.now()))
  }

  private deliver(item: Buffer | 'end'): void {
    if (this.to.destroyed || this.to.writableEnded) return
    if (item === 'end') this.to.end()
    else this.to.write(item)
  }
}

interface Pair {
  client: Socket
  upstream: Socket | null
  up: Lane | null // client -> upstream
  down: Lane | null // upstream -> client
  stalled: boolean
}

export async function startProxy(options: ProxyOptions): Promise<TestProxy> {
  const pairs = new Set<Pair>()
  const stats: ProxyStats = { connections: 0, upgrades: 0, refused: 0, hung: 0, httpRequests: 0 }
  const refuseStatus = options.refuseStatus ?? 400
  let closing: Promise<void> | null = null

  const forget = (pair: Pair): void => {
    if (!pair.client.destroyed || (pair.upstream && !pair.upstream.destroyed)) return
    pair.up?.stop()
    pair.down?.stop()
    pairs.delete(pair)
  }

  const connectUpstream = (pair: Pair, initial: Buffer, blackholeHeadLen: number, upstreamOpen = false): void => {
    const { client } = pair
    const upstream = net.connect({ host: '127.0.0.1', port: options.targetPort, allowHalfOpen: true })
    const up = new Lane(upstream, () => proxy.delayMs)
    const down = new Lane(client, () => proxy.delayMs)
    Object.assign(pair, { upstream, up, down })
    upstream.on('error', noop)
    if (blackholeHeadLen < 0 || upstreamOpen) up.push(initial)
    else {
      up.push(initial.subarray(0, blackholeHeadLen))
      up.seal()
    }
    // In blackhole mode, relay upstream bytes only up to the end of the response head.
    let seen: Buffer | null = blackholeHeadLen < 0 ? null : Buffer.alloc(0)
    upstream.on('data', (chunk: Buffer) => {
      if (seen === null) return down.push(chunk)
      seen = Buffer.concat([seen, chunk])
      const i = seen.indexOf(HEAD_END)
      if (i < 0) return down.push(chunk)
      down.push(chunk.subarray(0, chunk.length - (seen.length - (i + HEAD_END.length))))
      down.seal()
      seen = null
    })
    upstream.on('end', () => (down.accepting ? down.push('end') : upstream.destroy()))
    upstream.on('close', () => {
      // Abrupt close (reset, connect failure) propagates unless this direction is dead.
      if (!upstream.readableEnded && down.accepting) client.destroy()
      forget(pair)
    })
  }

  const route = (pair: Pair, head: Buffer, mode: ProxyMode): void => {
    const end = head.indexOf(HEAD_END)
    const text = head.subarray(0, end < 0 ? head.length : end).toString('latin1')
    if (!/^upgrade:.*\bwebsocket\b/im.test(text)) {
      stats.httpRequests++
      return connectUpstream(pair, head, -1)
    }
    stats.upgrades++
    if (mode === 'refuse') {
      stats.refused++
      const reason = REASONS[refuseStatus]
      const body = `${refuseStatus} ${reason}\n`
      pair.client.end(
        `HTTP/1.1 ${refuseStatus} ${reason}\r\nServer: surewire-test-proxy\r\n` +
          `Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `Connection: close\r\n\r\n${body}`,
      )
    } else if (mode === 'hang') {
      stats.hung++
    } else {
      connectUpstream(pair, head, mode === 'blackhole' || mode === 'mute' ? end + HEAD_END.length : -1, mode === 'mute')
    }
  }

  const onConnection = (client: Socket): void => {
    stats.connections++
    const mode = proxy.mode // mode changes only affect new connections
    const pair: Pair = { client, upstream: null, up: null, down: null, stalled: false }
    pairs.add(pair)
    let head: Buffer | null = Buffer.alloc(0) // null once the first head was routed
    client.on('error', noop)
    client.on('data', (chunk: Buffer) => {
      if (head === null) return pair.up?.push(chunk) // no upstream (refuse/hang): discard
      if (pair.stalled) return
      head = Buffer.concat([head, chunk])
      if (head.indexOf(HEAD_END) < 0 && head.length < MAX_HEAD) return
      const complete = head
      head = null
      route(pair, complete, mode)
    })
    client.on('end', () => (pair.up?.accepting ? pair.up.push('end') : client.destroy()))
    client.on('close', () => {
      if (!client.readableEnded && pair.up?.accepting) pair.upstream?.destroy()
      forget(pair)
    })
  }

  const server = net.createServer({ allowHalfOpen: true }, onConnection)
  server.on('error', noop)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port

  const proxy: TestProxy = {
    port,
    mode: options.mode ?? 'pass',
    delayMs: options.delayMs ?? 0,
    url: (path = '') => `http://127.0.0.1:${port}${path}`,
    get stats() {
      return { ...stats }
    },
    resetStats() {
      for (const key of Object.keys(stats) as (keyof ProxyStats)[]) stats[key] = 0
    },
    dropAll() {
      const count = pairs.size
      for (const pair of pairs) {
        pair.up?.stop()
        pair.down?.stop()
        pair.client.destroy()
        pair.upstream?.destroy()
      }
      pairs.clear()
      return count
    },
    stallAll() {
      for (const pair of pairs) {
        pair.stalled = true
        pair.up?.stop()
        pair.down?.stop()
      }
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        proxy.dropAll()
        server.close(() => resolve())
      })
      return closing
    },
  }
  return proxy
}
