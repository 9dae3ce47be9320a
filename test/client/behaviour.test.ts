/**
 * The behavioural suite: the same expectations on every transport, against the
 * reference server on 127.0.0.1 (through the test proxy where a fault is needed).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import type { Connection } from '../../src/server'
import { bearerToken } from '../../src/server'
import { AuthError, RejectedError, SurewireError, ValidationError, type StatusEvent, type TransportKind } from '../../src'
import { startProxy, type TestProxy } from '../support/proxy'
import type { ClientMessage, ServerMessage } from '../support/schemas'
import { closeClients, makeClient, startServer, until, waitFor, type TestServer } from '../support/servers'

let servers: TestServer[] = []
let proxies: TestProxy[] = []
afterEach(async () => {
  closeClients()
  await Promise.all(proxies.map((p) => p.close()))
  await Promise.all(servers.map((s) => s.close()))
  servers = []
  proxies = []
})

async function server(opts: Parameters<typeof startServer>[0] = {}, port = 0) {
  const s = await startServer(opts, port)
  servers.push(s)
  return s
}
async function proxy(s: TestServer) {
  const p = await startProxy({ targetPort: s.port })
  proxies.push(p)
  return p
}
const statusOf = (c: ReturnType<typeof makeClient>) => (fn: (e: StatusEvent) => void) => c.on('status', fn)
const messagesOf = (c: ReturnType<typeof makeClient>) => (fn: (m: ServerMessage) => void) => c.on('message', fn)
/** Latest connection on the server (the one a test's client created). */
const latestConn = (s: TestServer) => s.realtime.connections.at(-1) as Connection<typeof ClientMessage, typeof ServerMessage>

describe.each<TransportKind>(['websocket', 'sse'])('on %s', (transport) => {
  const client = (url: string, opts: Parameters<typeof makeClient>[1] = {}) => makeClient(url, { transports: [transport], ...opts })

  it('connects, reports each status with a reason, and round-trips a message', async () => {
    const s = await server()
    const c = client(s.url)
    const events: StatusEvent[] = []
    c.on('status', (e) => events.push(e))
    await c.connect()
    expect(c.status).toBe('open')
    expect(c.transport).toBe(transport)
    expect(events.map((e) => [e.previous, e.status, e.reason])).toEqual([
      ['idle', 'connecting', 'connect_called'],
      ['connecting', 'open', 'opened'],
    ])
    const echoed = waitFor(messagesOf(c), (m) => m.type === 'echo')
    await c.send({ type: 'echo', text: 'hello' })
    expect(await echoed).toEqual({ type: 'echo', text: 'hello' })
    expect(latestConn(s).transport).toBe(transport)
  })

  it('rejects an invalid outgoing message with a ValidationError and queues nothing', async () => {
    const s = await server()
    const c = client(s.url)
    await c.connect()
    const seen: unknown[] = []
    latestConn(s).on('message', (m) => seen.push(m))
    // @ts-expect-error — deliberately wrong shape
    const err = await c.send({ type: 'chat', text: 42 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ValidationError)
    expect((err as ValidationError).code).toBe('invalid_message')
    expect((err as ValidationError).message).toMatch(/text/)
    expect(c.queued).toBe(0)
    await c.send({ type: 'chat', text: 'valid' })
    expect(seen).toEqual([{ type: 'chat', text: 'valid' }])
  })

  it('reports incoming data that fails the schema on `invalid`, never on `message`', async () => {
    const s = await server({ outgoing: z.any() as never })
    const c = client(s.url)
    await c.connect()
    const messages: unknown[] = []
    c.on('message', (m) => messages.push(m))
    const invalid = waitFor((fn: (v: { error: ValidationError; data: unknown }) => void) => c.on('invalid', fn))
    void latestConn(s).send({ type: 'tick', n: 'not a number' } as never)
    void latestConn(s).send({ type: 'tick', n: 1 })
    const bad = await invalid
    expect(bad.data).toEqual({ type: 'tick', n: 'not a number' })
    expect(bad.error).toBeInstanceOf(ValidationError)
    await until(() => messages.length === 1)
    expect(messages).toEqual([{ type: 'tick', n: 1 }])
  })

  it('routes messages to per-type handlers', async () => {
    const s = await server()
    const c = client(s.url)
    await c.connect()
    const ticks: number[] = []
    c.onMessage('tick', (m) => ticks.push(m.n))
    const conn = latestConn(s)
    void conn.send({ type: 'chat', from: 'a', text: 'x' })
    void conn.send({ type: 'tick', n: 7 })
    await until(() => ticks.length === 1)
    expect(ticks).toEqual([7])
  })

  it('queues sends made before connecting and delivers them in order once open', async () => {
    const s = await server()
    const c = client(s.url)
    const seen: number[] = []
    s.realtime.on('connection', (conn) => conn.on('message', (m) => m.type === 'count' && seen.push(m.n)))
    const sends = [1, 2, 3, 4, 5].map((n) => c.send({ type: 'count', n }))
    expect(c.queued).toBe(5)
    await c.connect()
    await Promise.all(sends)
    expect(seen).toEqual([1, 2, 3, 4, 5])
    expect(c.queued).toBe(0)
  })

  it('bounds the queue and refuses oversized messages with typed errors', async () => {
    const s = await server()
    const c = client(s.url, { maxQueuedMessages: 2, maxMessageBytes: 200 })
    const a = c.send({ type: 'count', n: 1 })
    const b = c.send({ type: 'count', n: 2 })
    const full = await c.send({ type: 'count', n: 3 }).catch((e: SurewireError) => e)
    expect(full).toBeInstanceOf(SurewireError)
    expect((full as SurewireError).code).toBe('queue_full')
    const big = await c.send({ type: 'chat', text: 'x'.repeat(500) }).catch((e: SurewireError) => e)
    expect((big as SurewireError).code).toBe('too_large')
    await c.connect()
    await Promise.all([a, b])
  })

  it('resumes after a dropped connection: every message exactly once, in order', async () => {
    const s = await server()
    const p = await proxy(s)
    const c = client(p.url('/realtime'))
    const got: number[] = []
    c.onMessage('tick', (m) => got.push(m.n))
    await c.connect()
    const conn = latestConn(s)
    const total = 300
    let n = 0
    const pump = setInterval(() => {
      for (let i = 0; i < 5 && n < total; i++) void conn.send({ type: 'tick', n: ++n })
      if (n >= total) clearInterval(pump)
    }, 2)
    await until(() => got.length >= 50)
    p.dropAll()
    const lost = await waitFor(statusOf(c), (e) => e.status === 'reconnecting')
    expect(['connection_lost', 'server_closed']).toContain(lost.reason)
    await waitFor(statusOf(c), (e) => e.status === 'open')
    await until(() => got.length >= total, 20_000, `all ${total} ticks (have ${got.length})`)
    clearInterval(pump)
    expect(got).toEqual(Array.from({ length: total }, (_, i) => i + 1))
    expect(c.stats.resumes).toBeGreaterThanOrEqual(1)
    expect(s.realtime.connections).toHaveLength(1) // the same session, not a new one
  })

  it('keeps subscriptions and unacked sends across a server restart and emits `reset`', async () => {
    const s = await server()
    const c = client(s.url)
    await c.connect()
    await c.subscribe('room')
    const port = s.port
    const reset = waitFor((fn: (v: { reason: string }) => void) => c.on('reset', fn))
    await s.close()
    servers = servers.filter((x) => x !== s)
    await waitFor(statusOf(c), (e) => e.status === 'reconnecting')
    const pending = c.send({ type: 'chat', text: 'while down' })
    const s2 = await server({}, port)
    const chats: string[] = []
    s2.realtime.on('connection', (conn) => conn.on('message', (m) => m.type === 'chat' && chats.push(m.text)))
    expect((await reset).reason).toBe('session_unknown')
    await pending
    expect(chats).toEqual(['while down'])
    await until(() => latestConn(s2)?.topics.has('room') ?? false)
    const got = waitFor(messagesOf(c), (m) => m.type === 'chat')
    void s2.realtime.publish('room', { type: 'chat', from: 'srv', text: 'after restart' })
    expect(await got).toMatchObject({ text: 'after restart' })
  })

  it('rejects a subscription the server refuses with a RejectedError', async () => {
    const s = await server({ authorizeSubscribe: (_c, topic) => topic !== 'secret' })
    const c = client(s.url)
    await c.connect()
    const err = await c.subscribe('secret').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RejectedError)
    expect((err as RejectedError).serverCode).toBe('forbidden')
    await c.subscribe('public')
  })

  it('close() ends the session, rejects pending sends, and refuses later sends', async () => {
    const s = await server()
    const p = await proxy(s)
    const c = client(p.url('/realtime'))
    await c.connect()
    const conn = latestConn(s)
    const ended = waitFor((fn: (v: { reason: string }) => void) => conn.on('close', fn))
    p.stallAll() // so the next send can never be acked
    const pending = c.send({ type: 'count', n: 1 })
    c.close()
    expect(c.status).toBe('closed')
    await expect(pending).rejects.toMatchObject({ code: 'client_closed' })
    await expect(c.send({ type: 'count', n: 2 })).rejects.toThrow(/after close\(\)/)
    c.close() // idempotent
    // The stalled proxy swallowed the bye; a fresh client's bye reaches the server directly.
    const c2 = client(s.url)
    await c2.connect()
    const conn2 = latestConn(s)
    const ended2 = waitFor((fn: (v: { reason: string }) => void) => conn2.on('close', fn))
    c2.close()
    expect((await ended2).reason).toBe('client_closed')
    void ended.catch(() => {})
  })

  it('never leaks an unhandled rejection from fire-and-forget calls', async () => {
    const s = await server()
    const unhandled: unknown[] = []
    const onUnhandled = (r: unknown) => unhandled.push(r)
    process.on('unhandledRejection', onUnhandled)
    try {
      const c = client(s.url, { maxQueuedMessages: 1 })
      void c.send({ type: 'count', n: 1 }) // rejected by close()
      void c.send({ type: 'count', n: 2 }) // rejected: queue full
      // @ts-expect-error — invalid on purpose
      void c.send({ type: 'nope' })
      void c.connect() // rejected by close()
      c.close()
      await new Promise((r) => setImmediate(r))
      await new Promise((r) => setTimeout(r, 20))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('stops after an auth failure: one refresh-and-retry, then `auth_failed`', async () => {
    let attempts = 0
    const s = await server({
      authenticate: (req) => {
        attempts++
        return bearerToken(req) === 'good' ? { id: 'alice' } : null
      },
    })
    let calls = 0
    const c = client(s.url, { token: () => (++calls, 'expired') })
    const closed = waitFor(statusOf(c), (e) => e.status === 'closed')
    const err = await c.connect().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AuthError)
    expect((err as AuthError).message).not.toContain('expired') // the token never appears in errors
    expect((await closed).reason).toBe('auth_failed')
    expect(calls).toBe(2)
    expect(attempts).toBe(2)

    const tokens = ['expired', 'good']
    const c2 = client(s.url, { token: async () => tokens.shift() ?? 'good' })
    await c2.connect()
    expect(c2.status).toBe('open')
  })

  it('detects a half-open connection with keepalive and reconnects', async () => {
    const s = await server({ heartbeatIntervalMs: 100 })
    const p = await proxy(s)
    const c = client(p.url('/realtime'), { pingIntervalMs: 100, pongTimeoutMs: 300 })
    await c.connect()
    p.stallAll()
    const lost = await waitFor(statusOf(c), (e) => e.status === 'reconnecting')
    expect(lost.reason).toBe(transport === 'websocket' ? 'pong_timeout' : 'sse_silent')
    await waitFor(statusOf(c), (e) => e.status === 'open')
    const echoed = waitFor(messagesOf(c), (m) => m.type === 'echo')
    await c.send({ type: 'echo', text: 'alive' })
    await echoed
  })

  it('reconnects with reason `server_closed` when the server shuts down', async () => {
    const s = await server()
    const c = client(s.url)
    await c.connect()
    const lost = waitFor(statusOf(c), (e) => e.status === 'reconnecting')
    await s.realtime.close()
    expect((await lost).reason).toBe('server_closed')
  })
})
