/**
 * Limits (each with a default, an option and a test) and wrong usage that gets an
 * error saying what to do.
 */
import { afterEach, describe, expect, it, onTestFinished } from 'vitest'
import { request } from 'node:http'
import { WebSocket } from 'ws'
import { ConfigError, RealtimeClient, RejectedError, SurewireError, clientDefaults, type TransportKind } from '../../src'
import { createRealtimeServer, serverDefaults } from '../../src/server'
import type { ServerFrame } from '../../src/protocol'
import { ClientMessage, ServerMessage } from '../support/schemas'
import { closeClients, makeClient, startServer, until, type TestServer } from '../support/servers'

let servers: TestServer[] = []
const sockets: WebSocket[] = []
afterEach(async () => {
  closeClients()
  for (const ws of sockets.splice(0)) ws.terminate()
  await Promise.all(servers.map((s) => s.close()))
  servers = []
})
async function server(opts: Parameters<typeof startServer>[0] = {}) {
  const s = await startServer(opts)
  servers.push(s)
  return s
}

/** A raw WebSocket peer that has its hello. */
async function peer(url: string) {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '?v=1')
  sockets.push(ws)
  const frames: ServerFrame[] = []
  let closeCode = 0
  ws.on('message', (d) => frames.push(JSON.parse(String(d))))
  ws.on('close', (code) => (closeCode = code))
  await until(() => frames.length > 0)
  return { ws, frames, closeCode: () => closeCode }
}

/** Read SSE frames from a fetch response body. */
function sseFrames(res: Response) {
  const frames: ServerFrame[] = []
  let ended = false
  void (async () => {
    const reader = res.body!.getReader()
    const dec = new TextDecoder()
    let buf = ''
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buf += dec.decode(value, { stream: true })
        let i
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const data = buf.slice(0, i).split('\n').find((l) => l.startsWith('data: '))
          buf = buf.slice(i + 2)
          if (data) frames.push(JSON.parse(data.slice(6)))
        }
      }
    } catch {
      /* aborted */
    }
    ended = true
  })()
  return { frames, ended: () => ended }
}

describe('max frame / POST body size', () => {
  it('defaults: 1 MiB on both sides', () => {
    expect(serverDefaults.maxFrameBytes).toBe(1_048_576)
    expect(clientDefaults.maxMessageBytes).toBe(1_048_576)
  })

  it.each<TransportKind>(['websocket', 'sse'])('the client refuses a message over the server limit with a typed error (%s)', async (transport) => {
    const s = await server({ maxFrameBytes: 1_000 })
    const seen: string[] = []
    s.realtime.on('connection', (c) => c.on('message', (m) => m.type === 'chat' && seen.push(m.text)))
    const c = makeClient(s.url, { transports: [transport] })
    await c.connect()
    const err = await c.send({ type: 'chat', text: 'x'.repeat(2_000) }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SurewireError)
    expect(err).toMatchObject({ code: 'too_large', message: expect.stringMatching(/limit is \d+/) })
    expect(c.queued).toBe(0)
    await c.send({ type: 'chat', text: 'small' })
    expect(seen).toEqual(['small'])
  })

  it('the client refuses a message over its own maxMessageBytes before connecting', async () => {
    const c = makeClient('http://127.0.0.1:9/realtime', { maxMessageBytes: 100 })
    await expect(c.send({ type: 'chat', text: 'x'.repeat(200) })).rejects.toMatchObject({ code: 'too_large', message: expect.stringContaining('maxMessageBytes') })
  })

  it('the server answers an oversized POST with 413 (declared or streamed) and closes an oversized WebSocket frame with 1009', async () => {
    const s = await server({ maxFrameBytes: 1_000 })
    const p = await peer(s.url)
    const sid = (p.frames[0] as { sid: string }).sid
    const body = JSON.stringify([{ t: 'msg', seq: 1, d: { type: 'chat', text: 'x'.repeat(2_000) } }])
    const declared = await fetch(`${s.url}?v=1&sid=${sid}`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } })
    expect(declared.status).toBe(413)
    expect(await declared.json()).toMatchObject([{ t: 'error', code: 'too_large' }])
    const streamed = await new Promise<number>((resolve, reject) => {
      const req = request(`${s.url}?v=1&sid=${sid}`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => {
        res.resume()
        resolve(res.statusCode!)
      })
      req.on('error', reject)
      for (let i = 0; i < 4; i++) req.write(body.slice(i * 600, (i + 1) * 600))
      req.end()
    })
    expect(streamed).toBe(413)
    p.ws.send(body.slice(1, -1))
    await until(() => p.closeCode() !== 0)
    expect(p.closeCode()).toBe(1009)
  })
})

describe('outgoing queue bounds', () => {
  it('defaults: 1,000 messages, 1 MiB', () => {
    expect(clientDefaults.maxQueuedMessages).toBe(1_000)
    expect(clientDefaults.maxQueuedBytes).toBe(1_048_576)
  })

  it('refuses past maxQueuedMessages or maxQueuedBytes with queue_full, and accepts again once drained', async () => {
    const s = await server()
    const byCount = makeClient(s.url, { maxQueuedMessages: 3 })
    const queued = [1, 2, 3].map((n) => byCount.send({ type: 'count', n }))
    const full = await byCount.send({ type: 'count', n: 4 }).catch((e: unknown) => e)
    expect(full).toMatchObject({ code: 'queue_full', message: expect.stringMatching(/maxQueuedMessages=3.*wait for earlier sends/) })
    const byBytes = makeClient(s.url, { maxQueuedBytes: 200 })
    const big = byBytes.send({ type: 'chat', text: 'x'.repeat(120) })
    const fullBytes = await byBytes.send({ type: 'chat', text: 'y'.repeat(120) }).catch((e: unknown) => e)
    expect(fullBytes).toMatchObject({ code: 'queue_full', message: expect.stringContaining('maxQueuedBytes=200') })
    await Promise.all([byCount.connect(), byBytes.connect()])
    await Promise.all([...queued, big])
    expect(byCount.queued).toBe(0)
    await byCount.send({ type: 'count', n: 4 })
    await byBytes.send({ type: 'chat', text: 'y'.repeat(120) })
  })
})

describe('connections per session', () => {
  it('one live stream per session: a newer SSE stream (or WebSocket) for the same session replaces the older', async () => {
    const s = await server()
    const first = await fetch(`${s.url}?v=1`, { headers: { Accept: 'text/event-stream' } })
    const a = sseFrames(first)
    await until(() => a.frames.length > 0)
    const sid = (a.frames[0] as { sid: string }).sid
    const conn = s.realtime.connections.at(-1)!
    // Four more streams for the same session, opened together.
    const more = await Promise.all(
      [1, 2, 3, 4].map(() => fetch(`${s.url}?v=1&sid=${sid}`, { headers: { Accept: 'text/event-stream', 'Last-Event-ID': '0' } })),
    )
    const streams = [a, ...more.map(sseFrames)]
    await until(() => streams.filter((x) => !x.ended()).length === 1, 10_000, 'all but one stream to end')
    const live = streams.find((x) => !x.ended())!
    await until(() => live.frames.some((f) => f.t === 'hello'))
    void conn.send({ type: 'tick', n: 1 })
    await until(() => live.frames.some((f) => f.t === 'msg'))
    expect(s.realtime.connections).toHaveLength(1)
    // A WebSocket with the session's token takes over from SSE once it has sent a frame (contract C3:
    // until then it is a probe, and the SSE stream stays live).
    const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}?v=1&sid=${sid}&last=1`)
    sockets.push(ws)
    const wsFrames: ServerFrame[] = []
    ws.on('message', (d) => wsFrames.push(JSON.parse(String(d))))
    await until(() => wsFrames.some((f) => f.t === 'hello' && f.resumed))
    expect(live.ended()).toBe(false)
    ws.send(JSON.stringify({ t: 'ping' }))
    await until(() => live.ended(), 10_000, 'the SSE stream to be replaced')
    expect(conn.transport).toBe('websocket')
  })
})

describe('inbound rate per session', () => {
  it('default: off (Infinity); 1,000 messages at once all go through', async () => {
    expect(serverDefaults.maxInboundPerSecond).toBe(Infinity)
    const s = await server()
    let seen = 0
    s.realtime.on('connection', (c) => c.on('message', () => seen++))
    const c = makeClient(s.url)
    await c.connect()
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => c.send({ type: 'count', n: i })))
    expect(seen).toBe(1_000)
  })

  it.each<TransportKind>(['websocket', 'sse'])('over maxInboundPerSecond: nacked `rate_limited`, the app never sees it, and the session recovers (%s)', async (transport) => {
    const s = await server({ maxInboundPerSecond: 50 })
    const seen: number[] = []
    s.realtime.on('connection', (c) => c.on('message', (m) => m.type === 'count' && seen.push(m.n)))
    const c = makeClient(s.url, { transports: [transport] })
    await c.connect()
    const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => c.send({ type: 'count', n: i + 1 })))
    const accepted = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i + 1] : []))
    const rejected = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []))
    expect(accepted.length).toBeGreaterThanOrEqual(50) // the burst
    expect(accepted.length).toBeLessThan(150)
    for (const e of rejected) {
      expect(e).toBeInstanceOf(RejectedError)
      expect(e).toMatchObject({ serverCode: 'rate_limited', message: expect.stringMatching(/maxInboundPerSecond=50.*slow down/) })
    }
    expect(seen).toEqual(accepted)
    expect(c.status).toBe('open') // a limit, not a disconnect
    // The bucket refills: a later send goes through.
    let ok = false
    const start = Date.now()
    while (!ok && Date.now() - start < 10_000) {
      ok = await c.send({ type: 'count', n: 1_000 }).then(
        () => true,
        () => false,
      )
      if (!ok) await new Promise((r) => setTimeout(r, 50))
    }
    expect(ok).toBe(true)
  })

  it('pings are not counted', async () => {
    const s = await server({ maxInboundPerSecond: 5 })
    const p = await peer(s.url)
    for (let i = 0; i < 300; i++) p.ws.send(JSON.stringify({ t: 'ping', n: i }))
    await until(() => p.frames.filter((f) => f.t === 'pong').length === 300)
  })
})

describe('wrong usage says what to do', () => {
  const base = { incoming: ServerMessage, outgoing: ClientMessage, storage: null, lifecycle: null }
  const configError = (fn: () => unknown): ConfigError => {
    try {
      fn()
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError)
      return e as ConfigError
    }
    throw new Error('expected a ConfigError')
  }

  it('bad URL', () => {
    expect(configError(() => new RealtimeClient({ ...base, url: '' })).message).toMatch(/`url` is required, e\.g\. .*https:\/\//)
    expect(configError(() => new RealtimeClient({ ...base, url: '/realtime' })).message).toMatch(/not an absolute URL; outside a browser pass one like "http:\/\/127\.0\.0\.1/)
    expect(configError(() => new RealtimeClient({ ...base, url: 'ftp://example.com/rt' })).message).toMatch(/must be http\(s\):\/\/ or ws\(s\):\/\//)
    expect(configError(() => new RealtimeClient({ ...base, url: 'http://' })).message).toMatch(/not an absolute URL|not a valid URL/)
  })

  it('ws:// (or http://) from an https:// page: mixed content, use https:// or a relative URL', () => {
    const g = globalThis as { location?: unknown }
    expect(g.location).toBeUndefined()
    Object.defineProperty(globalThis, 'location', { value: { href: 'https://app.example/dashboard' }, configurable: true })
    try {
      const e = configError(() => new RealtimeClient({ ...base, url: 'ws://api.example:8080/realtime' }))
      expect(e.message).toMatch(/insecure but the page is https:\/\/.*Use "https:\/\/api\.example:8080\/realtime".*relative URL like "\/realtime"/)
      expect(configError(() => new RealtimeClient({ ...base, url: 'http://api.example/realtime' })).message).toMatch(/mixed content/)
      // What it recommends works: a relative URL resolves against the page.
      expect(() => new RealtimeClient({ ...base, url: '/realtime' })).not.toThrow()
      expect(() => new RealtimeClient({ ...base, url: 'wss://api.example/realtime' })).not.toThrow()
    } finally {
      delete g.location
    }
  })

  it('missing WebSocket on Node 20: an error naming the `ws` package; SSE + POST meanwhile, or a typed refusal without SSE', async () => {
    // Node 20 has no global WebSocket; on newer Node, hide it for this test.
    const g = globalThis as { WebSocket?: unknown }
    const saved = Object.getOwnPropertyDescriptor(g, 'WebSocket')
    if (saved) delete g.WebSocket
    onTestFinished(() => void (saved && Object.defineProperty(g, 'WebSocket', saved)))
    const s = await server()
    const errors: Error[] = []
    const c = makeClient(s.url, { WebSocket: undefined })
    c.on('error', (e) => errors.push(e))
    await c.connect()
    expect(c.transport).toBe('sse')
    expect(errors[0]).toMatchObject({ code: 'websocket_unavailable', message: expect.stringMatching(/import \{ WebSocket \} from "ws"/) })

    const wsOnly = makeClient(s.url, { WebSocket: undefined, transports: ['websocket'] })
    wsOnly.on('error', () => {})
    const err = await wsOnly.connect().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(err).toMatchObject({ code: 'websocket_unavailable', message: expect.stringMatching(/"ws" package or add 'sse'/) })
    expect(wsOnly.status).toBe('closed')
  })

  it('send() after close()', async () => {
    const c = makeClient('http://127.0.0.1:9/realtime')
    c.close()
    await expect(c.send({ type: 'count', n: 1 })).rejects.toMatchObject({ code: 'client_closed', message: expect.stringMatching(/call connect\(\) again or create a new RealtimeClient/) })
  })

  it('schema missing or not a schema, on the client and on the server', () => {
    const url = 'http://127.0.0.1:9/realtime'
    // @ts-expect-error — incoming missing on purpose
    expect(configError(() => new RealtimeClient({ url, outgoing: ClientMessage })).message).toMatch(/`incoming` must be a Standard Schema \(zod.*e\.g\. incoming: z\.object/)
    // @ts-expect-error — a plain object is not a schema
    expect(configError(() => new RealtimeClient({ url, incoming: ServerMessage, outgoing: { type: 'chat' } })).message).toMatch(/`outgoing` must be a Standard Schema/)
    // @ts-expect-error — no options at all
    expect(configError(() => new RealtimeClient()).message).toMatch(/options object is required/)
    // @ts-expect-error — server without schemas
    expect(configError(() => createRealtimeServer({ incoming: ClientMessage })).message).toMatch(/`outgoing` must be a Standard Schema/)
  })

  it('a token that is not a provider function, and transports that do not exist', () => {
    const url = 'http://127.0.0.1:9/realtime'
    // @ts-expect-error — a string instead of a function
    expect(configError(() => new RealtimeClient({ ...base, url, token: 'secret-token' })).message).toMatch(/`token` must be a function.*token: \(\) =>/)
    // @ts-expect-error — a typo
    expect(configError(() => new RealtimeClient({ ...base, url, transports: ['websockets'] })).message).toMatch(/'websocket' and\/or 'sse'.*\["websockets"\]/)
    expect(configError(() => new RealtimeClient({ ...base, url, transports: [] })).message).toMatch(/'websocket' and\/or 'sse'/)
  })
})
