/**
 * Compatibility mode against a backend that knows nothing about surewire: plain JSON
 * messages on its own /ws, /api/events (SSE) and /api/messages (POST), `{type:'ping'}`
 * answered with `{type:'pong'}`, clients told apart by their bearer token. The server is
 * written here, in that style, on purpose.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocketServer, type WebSocket } from 'ws'
import { z } from 'zod'
import { compat, RejectedError, type StatusEvent } from '../../src'
import { startProxy, type TestProxy } from '../support/proxy'
import { closeClients, makeClient, until, waitFor } from '../support/servers'

const Incoming = z.discriminatedUnion('type', [
  z.object({ type: z.literal('echo'), text: z.string() }),
  z.object({ type: z.literal('tick'), n: z.number().int() }),
  z.object({ type: z.literal('chat'), from: z.string(), text: z.string() }),
])
const Outgoing = z.discriminatedUnion('type', [
  z.object({ type: z.literal('echo'), text: z.string() }),
  z.object({ type: z.literal('chat'), text: z.string() }),
  z.object({ type: z.literal('count'), n: z.number().int() }),
])

interface PlainServer {
  port: number
  url(path?: string): string
  /** Every message the backend received, per client (token), in order. */
  received: Map<string, unknown[]>
  /** POST bodies as they arrived (to see single vs array). */
  bodies: unknown[]
  wsConnections: number
  sseConnections: number
  push(token: string, message: unknown): void
  close(): Promise<void>
}

/** A typical hand-written realtime backend: no envelope, no sessions, no acks. */
async function startPlainServer(opts: { commentEveryMs?: number } = {}): Promise<PlainServer> {
  const sockets = new Map<string, Set<(m: unknown) => void>>()
  const received = new Map<string, unknown[]>()
  const bodies: unknown[] = []
  const state = { wsConnections: 0, sseConnections: 0 }
  const deliver = (token: string, m: unknown) => sockets.get(token)?.forEach((send) => send(m))
  const handle = (token: string, m: unknown, reply: (m: unknown) => void) => {
    const msg = m as { type?: string; text?: string; n?: number; topic?: string }
    if (msg.type === 'ping') return reply({ type: 'pong' })
    received.set(token, [...(received.get(token) ?? []), m])
    if (msg.type === 'echo') reply({ type: 'echo', text: msg.text })
  }
  const addSocket = (token: string, send: (m: unknown) => void) => {
    if (!sockets.has(token)) sockets.set(token, new Set())
    sockets.get(token)!.add(send)
    return () => sockets.get(token)!.delete(send)
  }
  const tokenOf = (req: IncomingMessage) =>
    String(req.headers.authorization ?? '').replace(/^Bearer /, '') || new URL(req.url ?? '/', 'http://x').searchParams.get('access_token') || 'anon'

  const timers = new Set<ReturnType<typeof setInterval>>()
  const http: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const token = tokenOf(req)
    if (req.method === 'GET' && path === '/api/events') {
      state.sseConnections++
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' })
      res.write(': hi\n\n')
      const off = addSocket(token, (m) => res.write(`data: ${JSON.stringify(m)}\n\n`))
      const timer = opts.commentEveryMs ? setInterval(() => res.write(': keepalive\n\n'), opts.commentEveryMs) : undefined
      if (timer) timers.add(timer)
      res.on('close', () => {
        off()
        if (timer) (clearInterval(timer), timers.delete(timer))
      })
      return
    }
    if (req.method === 'POST' && path === '/api/messages') {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        let parsed: unknown
        try {
          parsed = JSON.parse(body)
        } catch {
          res.writeHead(400).end('bad json')
          return
        }
        bodies.push(parsed)
        if ((parsed as { type?: string }).type === 'chat' && (parsed as { text?: string }).text === 'reject me') {
          res.writeHead(422, { 'Content-Type': 'application/json' }).end('{"detail":"no"}')
          return
        }
        for (const m of Array.isArray(parsed) ? parsed : [parsed]) handle(token, m, (r) => deliver(token, r))
        res.writeHead(204).end()
      })
      return
    }
    res.writeHead(404).end()
  })
  const wss = new WebSocketServer({ noServer: true })
  http.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/ws') return socket.destroy()
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      state.wsConnections++
      const token = tokenOf(req)
      const send = (m: unknown) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(m))
      const off = addSocket(token, send)
      ws.on('message', (data) => handle(token, JSON.parse(data.toString()), send))
      ws.on('close', off)
    })
  })
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
  const port = (http.address() as AddressInfo).port
  return {
    port,
    url: (path = '') => `http://127.0.0.1:${port}${path}`,
    received,
    bodies,
    get wsConnections() {
      return state.wsConnections
    },
    get sseConnections() {
      return state.sseConnections
    },
    push: deliver,
    async close() {
      for (const t of timers) clearInterval(t)
      for (const c of wss.clients) c.terminate()
      await new Promise<void>((r) => wss.close(() => r()))
      http.closeAllConnections()
      await new Promise<void>((r) => http.close(() => r()))
    },
  }
}

let servers: PlainServer[] = []
let proxies: TestProxy[] = []
afterEach(async () => {
  closeClients()
  await Promise.all(proxies.map((p) => p.close()))
  await Promise.all(servers.map((s) => s.close()))
  servers = []
  proxies = []
})

async function plain(opts: Parameters<typeof startPlainServer>[0] = {}) {
  const s = await startPlainServer(opts)
  servers.push(s)
  return s
}
async function proxy(s: PlainServer, mode: TestProxy['mode'] = 'pass') {
  const p = await startProxy({ targetPort: s.port, mode })
  proxies.push(p)
  return p
}

const paths = { websocket: '/ws', sse: '/api/events', post: '/api/messages' }
const protocol = () =>
  compat({
    ping: { type: 'ping' },
    isPong: (m) => (m as { type?: string }).type === 'pong',
    subscribe: (topic) => ({ type: 'subscribe', topic }),
    unsubscribe: (topic) => ({ type: 'unsubscribe', topic }),
    heartbeatMs: 1_000,
  })

/** A compat client, typed with this file's plain-JSON schemas. */
function client(url: string, opts: Record<string, unknown> = {}) {
  return makeClient(url, {
    incoming: Incoming as never,
    outgoing: Outgoing as never,
    paths,
    protocol: protocol(),
    token: () => 'alice',
    wsProbeIntervalMs: 0,
    ...opts,
  }) as unknown as import('../../src').RealtimeClient<typeof Incoming, typeof Outgoing>
}
type Client = ReturnType<typeof client>
const statusOf = (c: Client) => (fn: (e: StatusEvent) => void) => c.on('status', fn)
const messagesOf = (c: Client) => (fn: (m: z.infer<typeof Incoming>) => void) => c.on('message', fn)

describe('compat mode: plain JSON backend', () => {
  it('WebSocket: opens, echoes both ways, maps ping/pong and subscriptions, never shows pongs to the app', async () => {
    const s = await plain()
    const c = client(s.url(), { pingIntervalMs: 100 })
    const seen: unknown[] = []
    c.on('message', (m) => seen.push(m))
    const opened = waitFor(statusOf(c), (e) => e.status === 'open')
    await c.connect()
    expect((await opened).reason).toBe('opened')
    expect(c.transport).toBe('websocket')
    const echoed = waitFor(messagesOf(c), (m) => m.type === 'echo')
    await c.send({ type: 'echo', text: 'hi' })
    expect(await echoed).toEqual({ type: 'echo', text: 'hi' })
    await c.subscribe('room-1')
    s.push('alice', { type: 'tick', n: 7 })
    await until(() => seen.some((m) => (m as { n?: number }).n === 7))
    await until(() => c.status === 'open' && s.received.get('alice')!.length >= 2)
    expect(s.received.get('alice')).toEqual([
      { type: 'echo', text: 'hi' },
      { type: 'subscribe', topic: 'room-1' },
    ])
    expect(seen.every((m) => (m as { type: string }).type !== 'pong')).toBe(true)
    // A few ping periods with pongs coming back: still the same connection.
    const before = c.stats.attempts
    await new Promise((r) => setTimeout(r, 500))
    expect(c.stats.attempts).toBe(before)
    expect(c.status).toBe('open')
  })

  it('falls back to SSE + POST when the WebSocket upgrade is refused, and works both ways', async () => {
    const s = await plain({ commentEveryMs: 100 })
    const p = await proxy(s, 'refuse')
    const c = client(p.url())
    const opened = waitFor(statusOf(c), (e) => e.status === 'open')
    await c.connect()
    const e = await opened
    expect([e.transport, e.reason]).toEqual(['sse', 'ws_refused'])
    const echoed = waitFor(messagesOf(c), (m) => m.type === 'echo')
    await c.send({ type: 'echo', text: 'over post' })
    expect(await echoed).toEqual({ type: 'echo', text: 'over post' })
    for (let n = 1; n <= 5; n++) await c.send({ type: 'count', n })
    expect(s.received.get('alice')!.slice(1)).toEqual([1, 2, 3, 4, 5].map((n) => ({ type: 'count', n })))
    expect(s.bodies.slice(1)).toEqual([1, 2, 3, 4, 5].map((n) => ({ type: 'count', n }))) // one message per POST
    // `:` comments are heartbeats: 2.5 × heartbeatMs (1 s) of no events does not count as silence.
    await new Promise((r) => setTimeout(r, 3_000))
    expect(c.status).toBe('open')
    expect(s.sseConnections).toBe(1)
  })

  it('postBody "array" sends one JSON array per batch; a 422 rejects the message instead of retrying it', async () => {
    const s = await plain({ commentEveryMs: 100 })
    const c = client(s.url(), { transports: ['sse'], protocol: compat({ postBody: 'array', heartbeatMs: 1_000 }) })
    await c.connect()
    await Promise.all([c.send({ type: 'count', n: 1 }), c.send({ type: 'count', n: 2 }), c.send({ type: 'count', n: 3 })])
    expect(s.bodies[0]).toEqual([1, 2, 3].map((n) => ({ type: 'count', n })))
    const c2 = client(s.url(), { transports: ['sse'] })
    await c2.connect()
    const err = await c2.send({ type: 'chat', text: 'reject me' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RejectedError)
    await c2.send({ type: 'count', n: 9 })
    expect(c2.status).toBe('open')
  })

  it('after a drop it reconnects, says `reset` (no resume in compat mode) and re-subscribes', async () => {
    const s = await plain()
    const p = await proxy(s)
    const c = client(p.url())
    const resets: unknown[] = []
    c.on('reset', (r) => resets.push(r))
    await c.connect()
    await c.subscribe('room-1') // resolves once written, not once received: wait for the backend to have it
    const subscribes = () => (s.received.get('alice') ?? []).filter((m) => (m as { type: string }).type === 'subscribe').length
    await until(() => subscribes() === 1)
    p.dropAll()
    const lost = await waitFor(statusOf(c), (e) => e.status === 'reconnecting')
    expect(['connection_lost', 'server_closed']).toContain(lost.reason)
    await waitFor(statusOf(c), (e) => e.status === 'open')
    expect(resets).toEqual([{ reason: 'session_unknown' }])
    await until(() => subscribes() === 2, 15_000, 'the re-subscription')
    const echoed = waitFor(messagesOf(c), (m) => m.type === 'echo' && m.text === 'again')
    await c.send({ type: 'echo', text: 'again' })
    await echoed
    expect(s.wsConnections).toBe(2)
  })

  it('detects a half-open WebSocket with the custom ping (no pong → pong_timeout)', async () => {
    const s = await plain()
    const p = await proxy(s)
    const c = client(p.url(), { pingIntervalMs: 100, pongTimeoutMs: 300 })
    await c.connect()
    p.stallAll()
    const e = await waitFor(statusOf(c), (e) => e.status === 'reconnecting')
    expect(e.reason).toBe('pong_timeout')
  })

  it('without a ping message it never pings (and never times out); without a subscribe mapping subscribe() rejects', async () => {
    const s = await plain()
    const c = client(s.url(), { pingIntervalMs: 50, pongTimeoutMs: 100, protocol: compat({}) })
    await c.connect()
    await new Promise((r) => setTimeout(r, 600))
    expect(c.status).toBe('open')
    expect(s.received.get('alice') ?? []).toEqual([])
    const err = await c.subscribe('x').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RejectedError)
    expect((err as Error).message).toMatch(/pass `subscribe: \(topic\) =>/)
  })
})
