import { afterEach, describe, expect, it, vi } from 'vitest'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocket, type ClientOptions } from 'ws'
import { bearerToken, createRealtimeServer, ValidationError, type Connection, type ServerOptions, type RealtimeRequest } from '../src/server'
import type { ServerFrame } from '../src/protocol'
import { matching, postFrames, ssePeer, wsPeer } from './support/peer'
import { startServer, until } from './support/servers'
import { ClientMessage, ServerMessage } from './support/schemas'
import { coreOf } from '../src/server/core/core'
const sessionsOf = (r: object) => coreOf(r).sessions.sessions

type Conn = Connection<typeof ClientMessage, typeof ServerMessage>
type Opts = Partial<ServerOptions<typeof ClientMessage, typeof ServerMessage>>

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
  vi.restoreAllMocks()
})

type Served = Awaited<ReturnType<typeof serve>>

/** The test server plus every Connection it made and every message its handlers saw, in order. */
async function serve(opts: Opts = {}) {
  const srv = await startServer(opts)
  cleanups.push(() => srv.close())
  const conns: Conn[] = []
  const received: ClientMessage[] = []
  srv.realtime.on('connection', (c) => {
    conns.push(c)
    c.on('message', (m) => received.push(m))
  })
  const ws = (query = '', o?: ClientOptions) => wsPeer(srv.url, query, o)
  return {
    srv,
    conns,
    received,
    ws,
    /** A WebSocket peer that has received its hello. */
    async ready(query = '', o?: ClientOptions) {
      const p = ws(query, o)
      return { ...p, hello: await p.wait('hello') }
    },
    sse: (query = '', headers: Record<string, string> = {}) => ssePeer(srv.url, query, headers),
    post: (sid: string | undefined, body: string, headers: Record<string, string> = {}) => postFrames(srv.url, sid, body, headers),
  }
}

/** A raw HTTP request (fetch cannot send Sec-WebSocket-Key or a chunked body on cue). */
function raw(port: number, opts: { method?: string; path?: string; headers?: Record<string, string>; chunks?: string[] }) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/realtime', headers: opts.headers }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode!, body }))
    })
    req.on('error', reject)
    for (const c of opts.chunks ?? []) req.write(c)
    req.end()
  })
}

const msgIds = (frames: ServerFrame[]) => matching(frames, 'msg').map((f) => f.id)
const echo = (seq: number, text: string) => ({ t: 'msg', seq, d: { type: 'echo', text } })
const tick = (n: number) => ({ type: 'tick', n }) as const

describe('WebSocket', () => {
  it('sends hello first, answers ping with pong, acks and echoes a message', async () => {
    const s = await serve()
    const p = await s.ready()
    expect(p.frames[0]).toBe(p.hello)
    expect(p.hello).toEqual({ t: 'hello', sid: expect.stringMatching(/^[\w-]{32}$/), hb: 15_000, resumed: false, maxFrameBytes: 1_048_576, seq: 0, batch: true })
    p.send({ t: 'ping', n: 7 })
    expect(await p.wait('pong')).toEqual({ t: 'pong', n: 7 })
    p.send(echo(1, 'hi'))
    expect(await p.wait('ack')).toEqual({ t: 'ack', seq: 1 })
    expect(await p.wait('msg')).toEqual({ t: 'msg', id: 1, d: { type: 'echo', text: 'hi' } })
    expect(s.conns.map((c) => c.transport)).toEqual(['websocket'])
  })

  it('acks a duplicate seq again but runs the handler once; nacks a message failing the schema', async () => {
    const s = await serve()
    const p = await s.ready()
    p.send(echo(1, 'once'))
    await p.wait('ack', (f) => f.seq === 1)
    p.send(echo(1, 'once')) // the resend of a frame whose ack was lost (acks of one burst may be coalesced)
    await p.wait('ack', (f) => f.seq === 1, 2)
    p.send(echo(2, 'twice'))
    await p.wait('ack', (f) => f.seq === 2)
    expect(s.received.map((m) => m.type === 'echo' && m.text)).toEqual(['once', 'twice'])
    expect(msgIds(p.frames)).toEqual([1, 2])
    // A message failing the incoming schema is nacked (not acked) and never reaches the handler.
    p.send({ t: 'msg', seq: 3, d: { type: 'nope' } })
    expect(await p.wait('nack')).toMatchObject({ t: 'nack', seq: 3, code: 'invalid_message', message: expect.any(String) })
    p.send({ t: 'msg', seq: 4, d: { type: 'count', n: 4 } })
    await p.wait('ack', (f) => f.seq === 4)
    expect(s.received.slice(2)).toEqual([{ type: 'count', n: 4 }])
    expect(matching(p.frames, 'ack', (f) => f.seq === 3)).toEqual([])
  })

  it('answers malformed JSON, unknown frames and binary frames with bad_frame and stays open', async () => {
    const s = await serve()
    const p = await s.ready()
    p.send('{not json')
    await p.wait('error', (f) => f.code === 'bad_frame')
    p.send({ t: 'teleport', seq: 1 })
    await p.wait('error', (f) => f.code === 'bad_frame', 2)
    p.ws.send(Buffer.from('{"t":"ping"}'), { binary: true })
    expect(await p.wait('error', undefined, 3)).toMatchObject({ code: 'bad_frame', message: expect.stringMatching(/binary/) })
    p.send({ t: 'ping' })
    await p.wait('pong')
    expect(p.ws.readyState).toBe(WebSocket.OPEN)
    expect(matching(p.frames, 'pong')).toHaveLength(1) // the binary ping was not handled
  })

  it('closes with 1009 on a frame larger than maxFrameBytes', async () => {
    const s = await serve({ maxFrameBytes: 1024 })
    const p = await s.ready()
    expect(p.hello.maxFrameBytes).toBe(1024)
    p.send(echo(1, 'x'.repeat(900)))
    await p.wait('ack')
    p.send(echo(2, 'x'.repeat(2000)))
    expect((await p.closed()).code).toBe(1009)
    expect(s.received).toHaveLength(1)
  })

  it('closes a WebSocket that never pings with 4408 (idle after 3 × hb)', async () => {
    const s = await serve({ heartbeatIntervalMs: 100 })
    const p = await s.ready()
    expect(await p.closed()).toEqual({ code: 4408, reason: expect.any(String) })
    await until(() => s.conns[0]!.transport === null, 15_000, 'server to detach the idle socket')
    expect(sessionsOf(s.srv.realtime).has(p.hello.sid)).toBe(true) // the session survives for a resume
  })
})

describe('resume', () => {
  /** Connect, receive `before` messages, disconnect, send `missed` more while disconnected. */
  async function dropAfter(s: Served, before: number, missed: number) {
    const p = await s.ready()
    const conn = s.conns[0]!
    for (let n = 1; n <= before; n++) void conn.send(tick(n))
    await p.wait('msg', (f) => f.id === before)
    p.ws.close()
    await until(() => conn.transport === null, 15_000, 'server to see the disconnect')
    for (let n = before + 1; n <= before + missed; n++) void conn.send(tick(n))
    return { sid: p.hello.sid, conn }
  }

  it('replays exactly the messages after `last` on the same session', async () => {
    const s = await serve()
    const { sid, conn } = await dropAfter(s, 2, 3)
    const p = await s.ready(`sid=${sid}&last=2`)
    expect(p.frames[0]).toEqual({ t: 'hello', sid, hb: 15_000, resumed: true, maxFrameBytes: 1_048_576, seq: 0, batch: true }) // no `reset`
    await p.wait('msg', (f) => f.id === 5)
    p.send({ t: 'ping' })
    await p.wait('pong')
    expect(matching(p.frames, 'msg')).toEqual([3, 4, 5].map((n) => ({ t: 'msg', id: n, d: tick(n) })))
    expect(s.conns).toEqual([conn]) // no new 'connection' event
    expect(conn.transport).toBe('websocket')
  })

  it('reports replay_window_exceeded when the missed messages no longer fit, keeping the sid', async () => {
    const s = await serve({ replayWindow: 3 })
    const { sid } = await dropAfter(s, 2, 4) // 3..6 missed, only 4..6 kept: 3 is lost
    expect((await s.ready(`sid=${sid}&last=2`)).hello).toMatchObject({ sid, resumed: false, reset: 'replay_window_exceeded' })
    // The boundary: everything after 3 is still buffered, so this one resumes.
    const q = await s.ready(`sid=${sid}&last=3`)
    expect(q.hello).toMatchObject({ sid, resumed: true })
    await q.wait('msg', (f) => f.id === 6)
    expect(msgIds(q.frames)).toEqual([4, 5, 6])
  })

  it('gives a new session with reset session_unknown for an unknown sid', async () => {
    const s = await serve()
    const { hello } = await s.ready('sid=nosuchsession&last=4')
    expect(hello).toMatchObject({ resumed: false, reset: 'session_unknown' })
    expect(hello.sid).not.toBe('nosuchsession')
    expect(sessionsOf(s.srv.realtime).has(hello.sid)).toBe(true)
  })

  it('a second WebSocket with the same sid replaces the first (close 4409)', async () => {
    const s = await serve()
    const a = await s.ready()
    const b = await s.ready(`sid=${a.hello.sid}&last=0`)
    expect(b.hello).toMatchObject({ sid: a.hello.sid, resumed: true })
    expect((await a.closed()).code).toBe(4409)
    void s.conns[0]!.send(tick(1))
    await b.wait('msg', (f) => f.id === 1)
    expect(s.conns).toHaveLength(1)
  })
})

describe('SSE', () => {
  it('streams hello, id-tagged messages and heartbeats with the right headers', async () => {
    const s = await serve({ heartbeatIntervalMs: 100 })
    const st = await s.sse()
    expect(st.res.status).toBe(200)
    const h = (name: string) => st.res.headers.get(name)
    expect([h('content-type'), h('cache-control'), h('x-accel-buffering')]).toEqual([expect.stringMatching(/^text\/event-stream/), expect.stringMatching(/^no-cache/), 'no'])
    const hello = await st.wait('hello')
    expect(st.frames[0]).toBe(hello)
    expect(hello).toMatchObject({ resumed: false, hb: 100 })
    expect(st.ids[0]).toBeUndefined()
    for (const n of [1, 2]) void s.conns[0]!.send(tick(n))
    await st.wait('msg', (f) => f.id === 2)
    const at = st.frames.findIndex((f) => f.t === 'msg')
    expect(st.ids.slice(at, at + 2)).toEqual(['1', '2'])
    await st.wait('hb', undefined, 2)
    expect(s.conns[0]!.transport).toBe('sse')
  })

  it('resumes from Last-Event-ID and replays only the missed messages', async () => {
    const s = await serve()
    const a = await s.sse()
    const { sid } = await a.wait('hello')
    const conn = s.conns[0]!
    for (const n of [1, 2]) void conn.send(tick(n))
    await a.wait('msg', (f) => f.id === 2)
    a.abort()
    await until(() => conn.transport === null, 15_000, 'server to see the SSE disconnect')
    for (const n of [3, 4]) void conn.send(tick(n))
    const b = await s.sse(`sid=${sid}`, { 'Last-Event-ID': '2' })
    expect(await b.wait('hello')).toMatchObject({ sid, resumed: true })
    await b.wait('msg', (f) => f.id === 4)
    expect(msgIds(b.frames)).toEqual([3, 4])
    expect(b.ids.filter(Boolean)).toEqual(['3', '4'])
  })
})

describe('POST', () => {
  it('handles a batch in order, acks through its last seq and dedups a resend', async () => {
    const s = await serve()
    const st = await s.sse()
    const { sid } = await st.wait('hello')
    const batch = JSON.stringify([echo(1, 'a'), echo(2, 'b'), echo(3, 'c')])
    const r = await s.post(sid, batch)
    expect(r.status).toBe(200)
    expect(matching(r.body, 'ack').at(-1)).toEqual({ t: 'ack', seq: 3 })
    expect(s.received.map((m) => m.type === 'echo' && m.text)).toEqual(['a', 'b', 'c'])
    await st.wait('msg', (f) => f.id === 3)
    expect(matching(st.frames, 'msg').map((f) => f.d)).toEqual(['a', 'b', 'c'].map((text) => ({ type: 'echo', text })))
    const again = await s.post(sid, batch)
    expect(matching(again.body, 'ack').at(-1)).toEqual({ t: 'ack', seq: 3 })
    expect(s.received).toHaveLength(3)
  })

  it('refuses a missing sid (400), an unknown sid (404), a malformed body (400) and an oversized one (413)', async () => {
    const s = await serve({ maxFrameBytes: 1024 })
    expect(await s.post(undefined, '[]')).toMatchObject({ status: 400, body: [{ t: 'error', code: 'bad_frame' }] })
    expect(await s.post('nosuchsession', '[]')).toMatchObject({ status: 404, body: [{ t: 'error', code: 'session_unknown' }] })
    const { sid } = (await s.ready()).hello
    for (const body of ['{nope', '{"t":"ping"}', '[{"t":"msg","seq":0,"d":1}]']) {
      expect(await s.post(sid, body)).toMatchObject({ status: 400, body: [{ t: 'error', code: 'bad_frame' }] })
    }
    const big = JSON.stringify([echo(1, 'x'.repeat(2000))])
    expect(await s.post(sid, big)).toMatchObject({ status: 413, body: [{ t: 'error', code: 'too_large' }] })
    // Without Content-Length (chunked), the limit is enforced while reading.
    const chunked = await raw(s.srv.port, { method: 'POST', path: `/realtime?sid=${sid}`, chunks: [big.slice(0, 1000), big.slice(1000)] })
    expect(chunked.status).toBe(413)
    expect(s.received).toEqual([])
  })
})

describe('HTTP routing', () => {
  it('answers 426 to a handshake without Upgrade, 400 to a plain GET, and leaves other paths to the http server', async () => {
    const s = await serve()
    const r = await raw(s.srv.port, { headers: { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13', Connection: 'keep-alive' } })
    expect(r.status).toBe(426)
    expect(r.body).toContain('proxy_set_header Upgrade')
    const plain = await fetch(s.srv.url)
    expect(plain.status).toBe(400)
    expect(await plain.json()).toMatchObject([{ t: 'error', code: 'bad_frame' }])
    expect((await fetch(s.srv.url.replace('/realtime', '/other'))).status).toBe(404)
    // With a handler that answers distinctively: what reaches it, and what the realtime path keeps.
    const app = createServer((req, res) => res.writeHead(200).end(`app ${req.url}`))
    const rt = createRealtimeServer({ incoming: ClientMessage, outgoing: ServerMessage }).attach(app)
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r))
    cleanups.push(() => new Promise<void>((r) => app.close(() => r()).closeAllConnections()))
    const base = `http://127.0.0.1:${(app.address() as AddressInfo).port}`
    const text = async (path: string) => (await fetch(base + path)).text()
    expect(await text('/other')).toBe('app /other')
    expect(await text('/realtimeX')).toBe('app /realtimeX')
    expect((await fetch(base + '/realtime/?v=1')).status).toBe(400)
    await rt.close()
    expect(await text('/realtime')).toBe('app /realtime') // close() detaches
  })
})

describe('auth', () => {
  const authenticate = (req: RealtimeRequest) => {
    const token = bearerToken(req)
    return token === 'good' ? { id: 'alice' } : token === 'bob' ? { id: 'bob' } : null
  }

  it('WebSocket: error frame then 4401 without a token, hello with ?access_token', async () => {
    const s = await serve({ authenticate })
    const bad = s.ws()
    expect(await bad.closed()).toEqual({ code: 4401, reason: 'unauthorized' })
    expect(bad.frames).toEqual([{ t: 'error', code: 'unauthorized', message: expect.any(String), fatal: true }])
    await s.ready('access_token=good')
    expect(s.conns.map((c) => c.user)).toEqual([{ id: 'alice' }])
  })

  it('SSE: 401 without Authorization; POST: 403 for another identity, 401 without a token', async () => {
    const s = await serve({ authenticate })
    const denied = await s.sse()
    expect(denied.res.status).toBe(401)
    expect(await denied.res.json()).toMatchObject([{ t: 'error', code: 'unauthorized', fatal: true }])
    const { sid } = await (await s.sse('', { Authorization: 'Bearer good' })).wait('hello')
    const body = JSON.stringify([{ t: 'ping' }])
    expect(await s.post(sid, body, { Authorization: 'Bearer bob' })).toMatchObject({ status: 403, body: [{ code: 'forbidden', fatal: true }] })
    expect((await s.post(sid, body)).status).toBe(401)
    expect(await s.post(sid, body, { Authorization: 'Bearer good' })).toEqual({ status: 200, body: [{ t: 'pong' }] })
    // Resuming alice's session as bob yields a fresh session, not hers.
    const { hello } = await s.ready(`sid=${sid}&last=0&access_token=bob`)
    expect(hello).toMatchObject({ resumed: false, reset: 'session_unknown' })
    expect(hello.sid).not.toBe(sid)
  })

  it('WebSocket: a frame that arrives while authenticate() is pending is handled after hello', async () => {
    let admit!: () => void
    const gate = new Promise<void>((r) => (admit = r))
    const s = await serve({ authenticate: async (req) => (await gate, authenticate(req)) })
    // Admit once the server socket has the frame; ws's own data listener (added first) has parsed it by then.
    s.srv.http.on('upgrade', (_req, socket: Duplex) => socket.once('data', () => admit()))
    const p = s.ws('access_token=good')
    await new Promise((r) => p.ws.once('open', r))
    p.send(echo(1, 'early'))
    await p.wait('msg')
    await p.wait('ack')
    expect(p.frames[0]!.t).toBe('hello')
    expect(s.received).toEqual([{ type: 'echo', text: 'early' }])
  })
})

describe('origin', () => {
  it('same-origin by default: refuses a foreign Origin, allows its own and none', async () => {
    const s = await serve()
    // Contract C2: accepted, then an origin_not_allowed error frame and close 4403 (was: HTTP 403 on the upgrade).
    const evil = s.ws('', { origin: 'http://evil.example' })
    expect(await evil.wait('error')).toMatchObject({ code: 'origin_not_allowed', fatal: true })
    expect((await evil.closed()).code).toBe(4403)
    expect((await s.sse('', { Origin: 'http://evil.example' })).res.status).toBe(403)
    await s.ready('', { origin: `http://127.0.0.1:${s.srv.port}` })
    await s.ready()
    expect(s.conns).toHaveLength(2)
  })

  it('allowedOrigins lists origins; SSE and preflight carry CORS headers', async () => {
    const s = await serve({ allowedOrigins: ['http://app.example'] })
    const Origin = 'http://app.example'
    await s.ready('', { origin: Origin })
    expect((await s.ws('', { origin: 'http://evil.example' }).closed()).code).toBe(4403)
    const st = await s.sse('', { Origin })
    expect(st.res.status).toBe(200)
    expect(st.res.headers.get('access-control-allow-origin')).toBe(Origin)
    const pre = await fetch(s.srv.url, { method: 'OPTIONS', headers: { Origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization' } })
    expect(pre.status).toBe(204)
    expect(pre.headers.get('access-control-allow-origin')).toBe(Origin)
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/\bAuthorization\b/)
  })
})

describe('fan-out', () => {
  it('broadcast reaches every session; publish only subscribers', async () => {
    const s = await serve()
    const a = await s.ready()
    const b = await s.sse()
    await b.wait('hello')
    a.send({ t: 'sub', seq: 1, topic: 'a' })
    await a.wait('ack', (f) => f.seq === 1)
    expect([...s.conns[0]!.topics]).toEqual(['a'])
    void s.srv.realtime.broadcast(tick(1))
    void s.srv.realtime.publish('a', tick(2))
    void s.srv.realtime.publish('b', tick(3))
    void s.srv.realtime.broadcast(tick(4))
    await a.wait('msg', (f) => f.id === 3)
    await b.wait('msg', (f) => f.id === 2) // b's next message would come after anything published to it
    const ns = (frames: ServerFrame[]) => matching(frames, 'msg').map((f) => (f.d as { n: number }).n)
    expect(ns(a.frames)).toEqual([1, 2, 4])
    expect(ns(b.frames)).toEqual([1, 4])
  })

  it('topics: none until a subscribe; a failed subscribe or unsubscribe leaves them as they were', async () => {
    const s = await serve()
    s.srv.realtime.on('error', () => {}) // the throwing handlers below are reported here
    const a = await s.ready()
    const b = await s.ready()
    const [ca, cb] = s.conns as [Conn, Conn]
    expect([...ca.topics]).toEqual([]) // sessions start without a set of their own (memory per connection)
    ca.on('subscribe', (t) => {
      if (t === 'no') throw new Error('refused by the app')
    })
    ca.on('unsubscribe', (t) => {
      if (t === 'keep') throw new Error('refused by the app')
    })
    a.send({ t: 'sub', seq: 1, topic: 'x' })
    a.send({ t: 'sub', seq: 2, topic: 'no' })
    a.send({ t: 'sub', seq: 3, topic: 'keep' })
    a.send({ t: 'unsub', seq: 4, topic: 'keep' })
    a.send({ t: 'unsub', seq: 5, topic: 'x' })
    a.send({ t: 'unsub', seq: 6, topic: 'never' })
    await a.wait('ack', (f) => f.seq === 6)
    expect(matching(a.frames, 'nack').map((f) => [f.seq, f.code])).toEqual([
      [2, 'server_error'],
      [4, 'server_error'],
    ])
    expect([...ca.topics]).toEqual(['keep'])
    expect([...cb.topics]).toEqual([]) // the other session's topics are its own
    void s.srv.realtime.publish('keep', tick(1))
    void s.srv.realtime.broadcast(tick(2))
    await b.wait('msg', (f) => (f.d as { n: number }).n === 2)
    await a.wait('msg', (f) => (f.d as { n: number }).n === 2)
    expect(matching(a.frames, 'msg').map((f) => (f.d as { n: number }).n)).toEqual([1, 2])
    expect(matching(b.frames, 'msg').map((f) => (f.d as { n: number }).n)).toEqual([2])
  })

  it('send, broadcast and publish throw ValidationError on an invalid message', async () => {
    const s = await serve()
    const p = await s.ready()
    const bad = { type: 'tick', n: 'one' } as unknown as ServerMessage
    expect(() => s.conns[0]!.send(bad)).toThrow(ValidationError)
    expect(() => s.srv.realtime.broadcast(bad)).toThrow(ValidationError)
    expect(() => s.srv.realtime.publish('a', bad)).toThrow(ValidationError)
    void s.conns[0]!.send(tick(1))
    expect(await p.wait('msg')).toEqual({ t: 'msg', id: 1, d: tick(1) }) // no id was used up
  })
})

/** Timers created by src/server code (by call stack) that are still pending: neither fired nor cleared. */
function serverTimers() {
  const live = new Set<NodeJS.Timeout>()
  const created: number[] = []
  for (const [set, clear] of [['setTimeout', 'clearTimeout'], ['setInterval', 'clearInterval']] as const) {
    const [realSet, realClear] = [globalThis[set] as (fn: () => void, ms?: number) => NodeJS.Timeout, globalThis[clear]]
    const track = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const t = realSet(() => (set === 'setTimeout' && live.delete(t), fn(...args)), ms)
      if (/[/\\]src[/\\]server[/\\]/.test(new Error().stack ?? '')) live.add(t) && created.push(ms ?? 0)
      return t
    }
    vi.spyOn(globalThis, set as 'setTimeout').mockImplementation(track as never)
    vi.spyOn(globalThis, clear as 'clearTimeout').mockImplementation(((t: NodeJS.Timeout) => (live.delete(t), realClear(t))) as never)
  }
  return { live, created }
}

describe('close()', () => {
  it('closes WebSockets with 1001, ends SSE streams and leaves no server timers', async () => {
    const timers = serverTimers()
    const s = await serve({ heartbeatIntervalMs: 14_321, sessionTtlMs: 123_456 })
    const ws = await s.ready()
    const st = await s.sse()
    await st.wait('hello')
    const third = await s.sse() // a third session, left disconnected (its expiry timer pending)
    await third.wait('hello')
    third.abort()
    await until(() => s.conns[2]?.transport === null, 15_000, 'third session to detach')
    expect(timers.created).toEqual(expect.arrayContaining([14_321, 123_456])) // the sweep and the expiry were seen
    const ended: string[] = []
    for (const c of s.conns) c.on('close', (e) => ended.push(e.reason))
    await s.srv.realtime.close()
    expect((await ws.closed()).code).toBe(1001)
    await st.ended
    expect(ended).toEqual(['server_closed', 'server_closed', 'server_closed'])
    expect(sessionsOf(s.srv.realtime).size).toBe(0)
    expect(timers.live.size).toBe(0)
  })
})
