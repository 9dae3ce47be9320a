/**
 * Server bounds and edges (#12 items 2, 4, 11, 12; #13 server parts; #11 item 1's request type):
 * slow consumers, garbage floods, replaced connections, hostile fields, option ranges, the
 * monotonic clock, Origin behind Host-rewriting proxies, and the 426 / 403 bodies. All over real
 * HTTP / WebSocket on 127.0.0.1; memory measured in a child process with --expose-gc.
 */
import { spawn } from 'node:child_process'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WebSocket } from 'ws'
import { bearerToken, ConfigError, createFetchHandler, createRealtimeServer, type RealtimeRequest, type ServerOptions } from '../../src/server'
import type { ServerFrame } from '../../src/protocol'
import { serveFetch } from '../support/fetch-node'
import { ClientMessage, ServerMessage } from '../support/schemas'
import { startServer, until, type TestServer } from '../support/servers'

type Opts = Partial<ServerOptions<typeof ClientMessage, typeof ServerMessage>>
const cleanups: (() => unknown)[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function server(opts: Opts = {}): Promise<TestServer & { errors: unknown[] }> {
  const s = await startServer(opts)
  const errors: unknown[] = []
  s.realtime.on('error', (e) => errors.push(e))
  cleanups.push(() => s.close())
  return Object.assign(s, { errors })
}

/** A WebSocket peer: frames received, close code, optional headers (Host, Origin, …). */
function peer(url: string, headers: Record<string, string> = {}, query = '') {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '?v=1' + query, { headers })
  const frames: ServerFrame[] = []
  const state = { code: 0, reason: '' }
  ws.on('message', (d) => frames.push(JSON.parse(String(d))))
  ws.on('close', (code, reason) => ((state.code = code), (state.reason = String(reason))))
  ws.on('error', () => {})
  cleanups.push(() => ws.terminate())
  const hello = async () => (await until(() => frames.some((f) => f.t === 'hello'), 15_000, 'hello'), frames.find((f) => f.t === 'hello') as Extract<ServerFrame, { t: 'hello' }>)
  const closed = async () => (await until(() => state.code !== 0, 15_000, 'close'), state)
  return { ws, frames, state, hello, closed, send: (f: unknown) => ws.send(typeof f === 'string' ? f : JSON.stringify(f)) }
}

/** A raw HTTP request (headers fetch would refuse or rewrite, e.g. Host). */
function raw(port: number, o: { method?: string; path?: string; headers?: Record<string, string>; body?: string }) {
  return new Promise<{ status: number; body: string; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/realtime?v=1', headers: o.headers, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => {
        body += c
        if (res.headers['content-type']?.includes('event-stream') && body.includes('\n\n')) res.destroy()
      })
      const done = () => resolve({ status: res.statusCode!, body, headers: res.headers })
      res.on('end', done)
      res.on('close', done)
    })
    req.on('error', reject)
    req.end(o.body)
  })
}

describe('memory under attack (child process, --expose-gc)', () => {
  const MiB = 1
  const run = (attack: string) =>
    new Promise<Record<string, number | boolean>>((resolve, reject) => {
      const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(new URL('./fixtures/server-bounds-child.ts', import.meta.url)), attack], {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let out = ''
      let err = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (err += d))
      child.on('exit', (code) => {
        const line = out.trim().split('\n').at(-1) ?? ''
        try {
          resolve(JSON.parse(line))
        } catch {
          reject(new Error(`child ${attack} exited ${code}: ${out}\n${err}`))
        }
      })
    })
  // Before the bounds: ws-slow heap+external +390 MiB, sse-slow +320, fetch-slow +260, garbage +190 (RSS +330), replay-60 +480 (RSS +940).
  it.each([
    ['ws-slow', 'a WebSocket client that stops reading while the app broadcasts 300 MiB'],
    ['sse-slow', 'an SSE client that stops reading while the app broadcasts 300 MiB'],
    ['fetch-slow', 'a Fetch-handler SSE client that stops reading while the app broadcasts 300 MiB'],
    ['garbage', 'a WebSocket client that sends 5 MiB of 1-byte garbage frames and never reads'],
    ['replay-60', '60 unread SSE GETs for one sid with Last-Event-ID: 0 against a full replay log (1,000 × 8 KiB)'],
  ])('%s: %s — bounded', async (attack) => {
    const r = await run(attack)
    console.log(`server bounds ${attack}: ${JSON.stringify(r)}`)
    if ('cut' in r) expect(r.cut).toBe(true) // the slow / flooding connection was closed by the server
    expect(r.serverErrors).toBe(0)
    // Generous: the bound per connection is maxBufferedBytes (4 MiB) + 64 KiB; the replay-60 log itself is 8 MiB.
    expect(r.heapGrowthMiB).toBeLessThan(48 * MiB)
    expect(r.rssGrowthMiB).toBeLessThan(160 * MiB)
  }, 120_000)
})

describe('slow consumers, floods and replaced connections', () => {
  it('WebSocket: a client that stops reading is closed with 4429 slow_consumer and resumes from the replay log', async () => {
    const s = await server({ maxBufferedBytes: 256 * 1024, replayWindow: 50 })
    const p = peer(s.url)
    const hello = await p.hello()
    ;(p.ws as unknown as { pause(): void }).pause()
    const big = { type: 'chat', from: 'app', text: 'x'.repeat(32 * 1024) } as const
    for (let i = 0; i < 2_000 && s.realtime.connections[0]!.transport !== null; i++) {
      void s.realtime.broadcast(big)
      if (i % 8 === 7) await new Promise((r) => setImmediate(r))
    }
    expect(s.realtime.connections[0]!.transport).toBeNull() // detached: the session waits for a resume
    ;(p.ws as unknown as { resume(): void }).resume()
    expect((await p.closed()).code).toBe(4429)
    const lastId = Math.max(...p.frames.filter((f) => f.t === 'msg').map((f) => (f as { id: number }).id))
    const again = peer(s.url, {}, `&sid=${hello.sid}&last=${lastId}`)
    expect(await again.hello()).toMatchObject({ sid: hello.sid, resumed: true })
    expect(s.errors).toEqual([])
  })

  it('SSE: a client that stops reading gets the slow_consumer error at the end of the stream, and the session stays', async () => {
    const s = await server({ maxBufferedBytes: 256 * 1024, replayWindow: 50 })
    const res = await fetch(`${s.url}?v=1`, { headers: { Accept: 'text/event-stream' } })
    const reader = res.body!.getReader()
    await reader.read() // hello; then stop reading
    const big = { type: 'chat', from: 'app', text: 'x'.repeat(32 * 1024) } as const
    for (let i = 0; i < 4_000 && s.realtime.connections[0]!.transport !== null; i++) {
      void s.realtime.broadcast(big)
      if (i % 8 === 7) await new Promise((r) => setImmediate(r))
    }
    expect(s.realtime.connections[0]!.transport).toBeNull()
    let text = ''
    const dec = new TextDecoder()
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) text += dec.decode(r.value, { stream: true })
    } catch {} // destroyed after the grace period if we were too slow: the frame is still the last one we saw
    expect(text).toContain('"code":"slow_consumer"')
    expect(s.realtime.connections).toHaveLength(1)
  })

  it('WebSocket: a garbage flood gets 32 error replies, then bad_frame and close 4400 — not one reply per frame', async () => {
    const s = await server()
    const p = peer(s.url)
    await p.hello()
    for (let i = 0; i < 500; i++) p.send('x')
    expect((await p.closed()).code).toBe(4400)
    const errors = p.frames.filter((f) => f.t === 'error')
    expect(errors).toHaveLength(33)
    expect(errors.every((f) => (f as { code: string }).code === 'bad_frame')).toBe(true)
    expect(s.errors).toEqual([])
  })

  it('an occasional bad frame between valid ones never closes the connection', async () => {
    const s = await server()
    const p = peer(s.url)
    await p.hello()
    for (let i = 0; i < 100; i++) {
      p.send('x')
      p.send({ t: 'ping', n: i })
    }
    await until(() => p.frames.filter((f) => f.t === 'pong').length === 100, 15_000, '100 pongs')
    expect(p.state.code).toBe(0)
    expect(p.frames.filter((f) => f.t === 'error')).toHaveLength(100)
  })

  it('a WebSocket whose session the app ends is destroyed within the grace period, even if the client never reads its backlog', async () => {
    const s = await server()
    const p = peer(s.url)
    await p.hello()
    ;(p.ws as unknown as { pause(): void }).pause()
    for (let i = 0; i < 100; i++) void s.realtime.broadcast({ type: 'chat', from: 'app', text: 'z'.repeat(32 * 1024) }) // 3.2 MiB: under the bound
    await new Promise((r) => setTimeout(r, 50))
    s.realtime.connections[0]!.close()
    const open = () => new Promise<number>((r) => s.http.getConnections((_, n) => r(n)))
    let n = await open()
    await until(() => (void open().then((x) => (n = x)), n === 0), 15_000, 'the server to drop the socket')
  })

  it('a replaced SSE response is ended and its socket destroyed, even if the client never reads it', async () => {
    const s = await server()
    const first = await raw(s.port, { headers: { Accept: 'text/event-stream' } })
    const sid = /"sid":"([^"]+)"/.exec(first.body)![1]!
    // An unread stream for the same sid (socket paused), then a newer one replaces it.
    const { connect } = await import('node:net')
    const sock = connect(s.port, '127.0.0.1')
    sock.on('error', () => {})
    let gone = false
    sock.on('close', () => (gone = true))
    sock.write(`GET /realtime?v=1&sid=${sid} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`)
    sock.pause()
    await until(() => s.realtime.connections[0]?.transport === 'sse', 15_000, 'attached')
    for (let i = 0; i < 200; i++) void s.realtime.broadcast({ type: 'chat', from: 'app', text: 'y'.repeat(16 * 1024) })
    const newer = peer(s.url, {}, `&sid=${sid}&last=0`)
    await newer.hello()
    newer.send({ t: 'ping' }) // a WebSocket joining an SSE session replaces it on its first frame (contract C3)
    sock.resume() // only to observe the end: the server must have cut it within its grace period
    await until(() => gone, 15_000, 'the replaced socket to close')
  })
})

describe('hostile fields get bad_frame, never a 5xx or a server error', () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n)
  const cases: [string, string][] = [
    ['ping n nested 10,000 levels', `{"t":"ping","n":${deep(10_000)}}`],
    ['ping n a string', '{"t":"ping","n":"x"}'],
    ['msg d nested 10,000 levels', `{"t":"msg","seq":1,"d":${deep(10_000)}}`],
    ['msg d nested 65 levels', `{"t":"msg","seq":1,"d":${deep(65)}}`],
    ['topic of 10,000 characters', JSON.stringify({ t: 'sub', seq: 1, topic: 'x'.repeat(10_000) })],
    ['topic not a string', '{"t":"sub","seq":1,"topic":{"a":1}}'],
  ]
  it.each(cases)('WebSocket: %s', async (_, frame) => {
    const s = await server()
    const p = peer(s.url)
    await p.hello()
    p.send(frame)
    p.send({ t: 'ping', n: 7 })
    await until(() => p.frames.some((f) => f.t === 'pong'), 15_000, 'pong')
    expect(p.frames.filter((f) => f.t === 'error').map((f) => (f as { code: string }).code)).toEqual(['bad_frame'])
    expect(p.frames.find((f) => f.t === 'pong')).toEqual({ t: 'pong', n: 7 })
    expect(s.errors).toEqual([])
  })
  it.each(cases)('POST: %s', async (_, frame) => {
    const s = await server()
    const first = await raw(s.port, { headers: { Accept: 'text/event-stream' } })
    const sid = /"sid":"([^"]+)"/.exec(first.body)![1]!
    const res = await fetch(`${s.url}?v=1&sid=${sid}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: `[${frame}]` })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual([expect.objectContaining({ t: 'error', code: 'bad_frame' })])
    expect(s.errors).toEqual([])
  })
  it('d nested 64 levels is still a message', async () => {
    const s = await server()
    const p = peer(s.url)
    await p.hello()
    p.send(`{"t":"msg","seq":1,"d":${deep(64)}}`)
    await until(() => p.frames.some((f) => f.t === 'nack'), 15_000, 'nack')
    expect(p.frames.find((f) => f.t === 'nack')).toMatchObject({ code: 'invalid_message' }) // reached the schema, which refused it
  })
})

describe('server options are validated in one place', () => {
  const make = (o: Opts) => () => createRealtimeServer({ incoming: ClientMessage, outgoing: ServerMessage, ...o })
  it.each<[Opts, RegExp]>([
    [{ sessionTtlMs: Infinity }, /sessionTtlMs.*from 1 to 2147483647 ms.*Infinity/],
    [{ sessionTtlMs: 2 ** 31 }, /sessionTtlMs.*2147483647/],
    [{ sessionTtlMs: -1 }, /sessionTtlMs/],
    [{ heartbeatIntervalMs: NaN }, /heartbeatIntervalMs.*got NaN/],
    [{ heartbeatIntervalMs: 0 }, /heartbeatIntervalMs/],
    [{ maxFrameBytes: 10 }, /maxFrameBytes.*from 64/],
    [{ maxFrameBytes: 1.5e3 + 0.5 }, /maxFrameBytes/],
    [{ maxBufferedBytes: 0 }, /maxBufferedBytes/],
    [{ replayWindow: -1 }, /replayWindow/],
    [{ maxInboundPerSecond: 0 }, /maxInboundPerSecond/],
    [{ path: 'realtime' }, /path.*'\/'/],
    [{ allowedOrigins: 5 as never }, /allowedOrigins/],
    [{ trustForwardedHost: 'yes' as never }, /trustForwardedHost/],
    [{ authenticate: 'x' as never }, /authenticate.*function/],
  ])('%o → ConfigError naming the option and its range', (o, message) => {
    expect(make(o)).toThrow(ConfigError)
    expect(make(o)).toThrow(message)
  })
  it('defaults are applied once, and undefined means default', () => {
    const s = make({ sessionTtlMs: undefined, heartbeatIntervalMs: 2 ** 31 - 1 })()
    expect(s.options).toMatchObject({ sessionTtlMs: 60_000, heartbeatIntervalMs: 2 ** 31 - 1, maxBufferedBytes: 4 * 1024 * 1024, trustForwardedHost: false })
  })
})

describe('monotonic clock', () => {
  it('the WebSocket idle check (4408) fires on time when the wall clock steps back an hour', async () => {
    const s = await server({ heartbeatIntervalMs: 100 })
    const p = peer(s.url)
    await p.hello()
    const real = Date.now.bind(Date)
    vi.spyOn(Date, 'now').mockImplementation(() => real() - 3_600_000)
    expect((await p.closed()).code).toBe(4408)
  })
})

describe('Origin behind a proxy that rewrites Host (contract C2, trustForwardedHost)', () => {
  const viaProxy = { Host: 'backend:3000', Origin: 'http://app.example:8080', 'X-Forwarded-Host': 'app.example:8080' }
  it('default: WebSocket accepted, then origin_not_allowed (naming Origin, Host and the fix) and close 4403; no authenticate call', async () => {
    let calls = 0
    const s = await server({ authenticate: () => (calls++, { id: 'u' }) })
    const p = peer(s.url, viaProxy)
    const { code } = await p.closed()
    expect(code).toBe(4403)
    expect(p.frames).toHaveLength(1)
    const f = p.frames[0] as { t: string; code: string; message: string; fatal: boolean }
    expect(f).toMatchObject({ t: 'error', code: 'origin_not_allowed', fatal: true })
    expect(f.message).toContain('http://app.example:8080')
    expect(f.message).toContain('backend:3000')
    expect(f.message).toMatch(/trustForwardedHost/)
    expect(f.message).toMatch(/\$http_host/)
    expect(calls).toBe(0)
  })
  it('default: SSE GET and POST get 403 with an origin_not_allowed body naming Origin and Host', async () => {
    const s = await server()
    for (const method of ['GET', 'POST']) {
      const r = await raw(s.port, { method, path: '/realtime?v=1&sid=x', headers: { ...viaProxy, Accept: 'text/event-stream', 'Content-Type': 'application/json' }, body: method === 'POST' ? '[]' : undefined })
      expect(r.status, method).toBe(403)
      const body = JSON.parse(r.body)
      expect(body).toEqual([expect.objectContaining({ t: 'error', code: 'origin_not_allowed', fatal: true })])
      expect(body[0].message).toContain('backend:3000')
      expect(body[0].message).toContain('http://app.example:8080')
    }
  })
  it.each([
    ['X-Forwarded-Host', viaProxy],
    ['Forwarded: host=', { Host: 'backend:3000', Origin: 'http://app.example:8080', Forwarded: 'for=1.2.3.4;host="app.example:8080";proto=http' }],
  ])('trustForwardedHost: true compares Origin with %s on every transport', async (_, headers) => {
    const s = await server({ trustForwardedHost: true })
    const p = peer(s.url, headers)
    const hello = await p.hello()
    const sse = await raw(s.port, { headers: { ...headers, Accept: 'text/event-stream' } })
    expect(sse.status).toBe(200)
    const post = await raw(s.port, { method: 'POST', path: `/realtime?v=1&sid=${hello.sid}`, headers: { ...headers, 'Content-Type': 'application/json' }, body: '[{"t":"ping","n":1}]' })
    expect(post.status).toBe(200)
    expect(JSON.parse(post.body)).toEqual([{ t: 'pong', n: 1 }])
    // Still refused when the forwarded host does not match either.
    const other = peer(s.url, { ...headers, Origin: 'http://evil.example' })
    expect((await other.closed()).code).toBe(4403)
  })
  it('trustForwardedHost without a forwarded header falls back to Host', async () => {
    const s = await server({ trustForwardedHost: true })
    expect((await peer(s.url, { Host: 'backend:3000', Origin: 'http://app.example:8080' }).closed()).code).toBe(4403)
    await peer(s.url, { Origin: `http://127.0.0.1:${s.port}` }).hello()
  })
})

describe('426 bodies carry codes', () => {
  it('node:http: a handshake without Upgrade (a proxy dropped it) → 426 upgrade_headers_dropped', async () => {
    const s = await server()
    const r = await raw(s.port, { headers: { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' } })
    expect(r.status).toBe(426)
    expect(r.headers['content-type']).toMatch(/application\/json/)
    const [f] = JSON.parse(r.body)
    expect(f).toMatchObject({ t: 'error', code: 'upgrade_headers_dropped', fatal: false })
    expect(f.message).toMatch(/proxy_set_header Upgrade \$http_upgrade/)
  })
  it('Fetch handler: any WebSocket handshake → 426 websocket_unsupported', async () => {
    const realtime = createRealtimeServer({ incoming: ClientMessage, outgoing: ServerMessage })
    const srv = await serveFetch(createFetchHandler(realtime))
    cleanups.push(() => srv.close(), () => realtime.close())
    const r = await raw(srv.port, { headers: { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', Upgrade: 'websocket', Connection: 'Upgrade' } })
    expect(r.status).toBe(426)
    expect(JSON.parse(r.body)).toEqual([expect.objectContaining({ t: 'error', code: 'websocket_unsupported' })])
  })
})

describe('authenticate(req) gets one RealtimeRequest on every adapter', () => {
  it('node:http (WebSocket, SSE, POST) and Fetch: method, url, lower-cased headers, adapter, raw; bearerToken works on it', async () => {
    const seen: RealtimeRequest[] = []
    const authenticate = (req: RealtimeRequest) => (seen.push(req), bearerToken(req) === 'good' ? { id: 'u' } : null)
    const s = await server({ authenticate })
    const p = peer(s.url, {}, '&access_token=good')
    const hello = await p.hello()
    await fetch(`${s.url}?v=1&sid=${hello.sid}`, { method: 'POST', headers: { Authorization: 'Bearer good', 'X-Custom': 'A' }, body: '[]' })
    const realtime = createRealtimeServer({ incoming: ClientMessage, outgoing: ServerMessage, authenticate })
    const srv = await serveFetch(createFetchHandler(realtime))
    cleanups.push(() => srv.close(), () => realtime.close())
    const r = await fetch(`${srv.url}?v=1`, { headers: { Accept: 'text/event-stream', Authorization: 'Bearer good' } })
    expect(r.status).toBe(200)
    await r.body!.cancel()
    const [ws, post, viaFetch] = seen
    expect(ws).toMatchObject({ method: 'GET', adapter: 'node', remoteAddress: '127.0.0.1' })
    expect(ws!.url).toMatch(/^\/realtime\?v=1&access_token=good$/)
    expect((ws!.raw as { socket: unknown }).socket).toBeTruthy() // the real IncomingMessage
    expect(post).toMatchObject({ method: 'POST', adapter: 'node' })
    expect(post!.headers['x-custom']).toBe('A')
    expect(viaFetch).toMatchObject({ method: 'GET', adapter: 'fetch', remoteAddress: undefined })
    expect(viaFetch!.raw).toBeInstanceOf(Request)
    expect(viaFetch!.headers.authorization).toBe('Bearer good')
    expect(bearerToken(viaFetch!)).toBe('good')
  })
})
