/**
 * Auth and isolation: the token provider, expired tokens without a retry storm,
 * tokens that never leak into errors or logs, session tokens that are unguessable
 * and bound to the identity that created them, and Origin / CORS checks.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { StatusEvent, TransportKind } from '../../src'
import type { ServerFrame } from '../../src/protocol'
import { bearerToken, type RealtimeRequest } from '../../src/server'
import { ssePeer, wsPeer, type WsPeer } from '../support/peer'
import { startProxy, type TestProxy } from '../support/proxy'
import { closeClients, makeClient, startServer, until, waitFor, type TestServer } from '../support/servers'

let servers: TestServer[] = []
let proxies: TestProxy[] = []
afterEach(async () => {
  closeClients()
  await Promise.all(proxies.map((p) => p.close()))
  await Promise.all(servers.map((s) => s.close()))
  servers = []
  proxies = []
  vi.restoreAllMocks()
})
async function server(opts: Parameters<typeof startServer>[0] = {}) {
  const s = await startServer(opts)
  servers.push(s)
  return s
}
async function proxy(s: TestServer) {
  const p = await startProxy({ targetPort: s.port })
  proxies.push(p)
  return p
}
const statusOf = (c: ReturnType<typeof makeClient>) => (fn: (e: StatusEvent) => void) => c.on('status', fn)

/** Users by token; every authenticate() call is recorded with the token it saw. */
function users(valid: Record<string, string>) {
  const seen: { token: string | undefined; kind: string }[] = []
  const authenticate = (req: RealtimeRequest) => {
    const token = bearerToken(req)
    seen.push({ token, kind: req.headers.upgrade ? 'websocket' : req.method === 'POST' ? 'post' : 'sse' })
    const id = token === undefined ? undefined : valid[token]
    return id ? { id } : null
  }
  return { authenticate, seen }
}

/** A raw WebSocket peer (test/support/peer.ts) with these request headers. */
const rawWs = (url: string, query: string, headers: Record<string, string> = {}) => wsPeer(url, query, { headers })
const closeCode = (p: WsPeer) => p.state.close?.code ?? 0
const wsError = (p: WsPeer) => p.state.failure?.message ?? ''

describe('token provider and expiry', () => {
  it.each<TransportKind>(['websocket', 'sse'])('is called before every connect, and the server sees each fresh token (%s)', async (transport) => {
    const valid = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`tok-${i + 1}`, 'alice']))
    const u = users(valid)
    const s = await server({ authenticate: u.authenticate })
    const p = await proxy(s)
    let calls = 0
    const c = makeClient(p.url('/realtime'), { transports: [transport], token: () => `tok-${++calls}` })
    await c.connect()
    for (let i = 0; i < 4; i++) {
      const back = waitFor(statusOf(c), (e) => e.status === 'open')
      p.dropAll()
      await back
    }
    expect(calls).toBe(5)
    expect(u.seen.filter((x) => x.kind !== 'post').map((x) => x.token)).toEqual(['tok-1', 'tok-2', 'tok-3', 'tok-4', 'tok-5'])
  })

  it.each<[string, TransportKind[]]>([
    ['websocket', ['websocket']],
    ['sse', ['sse']],
    ['websocket + sse (default)', ['websocket', 'sse']],
  ])('an expired token: one refresh-and-retry, then auth_failed, and no more attempts (%s)', async (_name, transports) => {
    const u = users({ fresh: 'alice' })
    const s = await server({ authenticate: u.authenticate })
    const p = await proxy(s)
    const tokens = ['fresh'] // then the provider only has an expired one
    let calls = 0
    const c = makeClient(p.url('/realtime'), { transports, token: () => (calls++, tokens.shift() ?? 'expired') })
    c.on('error', () => {})
    await c.connect()
    const attemptsBefore = u.seen.length
    const closed = waitFor(statusOf(c), (e) => e.status === 'closed')
    p.dropAll()
    const e = await closed
    expect(e.reason).toBe('auth_failed')
    expect(e.error).toMatchObject({ code: 'auth_failed', name: 'AuthError' })
    expect(calls).toBe(3) // connect, reconnect, one refresh
    const after = u.seen.slice(attemptsBefore)
    expect(after.map((x) => x.token)).toEqual(['expired', 'expired'])
    // Nothing more: the client is closed and retries nothing (checked over a short quiet period).
    await new Promise((r) => setTimeout(r, 300))
    expect(u.seen.length).toBe(attemptsBefore + 2)
    expect(c.status).toBe('closed')
  })

  it('an expired token refreshed successfully reconnects after exactly one refusal', async () => {
    const u = users({ 'tok-1': 'alice', 'tok-3': 'alice' })
    const s = await server({ authenticate: u.authenticate })
    const p = await proxy(s)
    let calls = 0
    const c = makeClient(p.url('/realtime'), { transports: ['websocket'], token: () => `tok-${++calls}` }) // tok-2 is expired
    await c.connect()
    const events: StatusEvent[] = []
    c.on('status', (e) => events.push(e))
    const back = waitFor(statusOf(c), (e) => e.status === 'open')
    p.dropAll()
    await back
    expect(events.map((e) => `${e.status}:${e.reason}`)).toEqual(['reconnecting:connection_lost', 'connecting:retry', 'connecting:auth_retry', 'open:opened'])
    expect(u.seen.map((x) => x.token)).toEqual(['tok-1', 'tok-2', 'tok-3'])
    expect(c.stats.resumes).toBe(1) // same identity: the session survived the refusal
  })
})

describe('the token never leaks into errors, status details or logs', () => {
  it('across refusals, fallbacks, failures and auth outages on both transports', async () => {
    const TOKEN = `tok_${Math.random().toString(36).slice(2)}_SECRET`
    const captured: string[] = []
    const text = (v: unknown): string => {
      if (v instanceof Error) return `${v.name} ${v.message} ${v.stack ?? ''} ${text((v as { cause?: unknown }).cause)} ${JSON.stringify(v)}`
      try {
        return typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v))
      } catch {
        return String(v)
      }
    }
    for (const m of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      vi.spyOn(console, m).mockImplementation((...args: unknown[]) => void captured.push(args.map(text).join(' ')))
    }
    let outage = false
    const s = await server({
      authenticate: (req) => {
        if (outage) throw new Error('auth backend down')
        return bearerToken(req) === 'never' ? { id: 'x' } : null // TOKEN is always refused
      },
    })
    s.realtime.on('error', (e) => captured.push(text(e)))
    const p = await proxy(s)
    const watch = (c: ReturnType<typeof makeClient>) => {
      c.on('error', (e) => captured.push(text(e)))
      c.on('status', (e) => captured.push(text(e), text(e.error)))
      c.on('invalid', (e) => captured.push(text(e)))
    }
    const scenarios: [string, Parameters<typeof makeClient>[1], string][] = [
      ['refused over websocket', { transports: ['websocket'] }, s.url],
      ['refused over sse', { transports: ['sse'] }, s.url],
      ['refused after a fallback', { sseHeadStartMs: 50 }, p.url('/realtime')],
      ['nothing listening', { transports: ['websocket', 'sse'], maxAttempts: 2 }, 'http://127.0.0.1:9/realtime'],
    ]
    p.mode = 'refuse'
    for (const [what, opts, url] of scenarios) {
      const c = makeClient(url, { token: () => TOKEN, ...opts })
      watch(c)
      const err = await c.connect().catch((e: unknown) => e)
      expect(err, what).toBeInstanceOf(Error)
      captured.push(text(err))
    }
    // An auth outage (500 / 1011: retryable) and a POST refused mid-session.
    outage = true
    const c = makeClient(s.url, { token: () => TOKEN, transports: ['sse'], maxAttempts: 2 })
    watch(c)
    captured.push(text(await c.connect().catch((e: unknown) => e)))
    expect(captured.length).toBeGreaterThan(20)
    const leaks = captured.filter((x) => x.includes(TOKEN))
    expect(leaks).toEqual([])
  })
})

describe('session tokens', () => {
  it('are unguessable: 32 base64url characters (192 bits), all distinct, uniformly spread, unrelated to the public id', async () => {
    const s = await server()
    const sids: string[] = []
    for (let batch = 0; batch < 6; batch++) {
      const peers = Array.from({ length: 50 }, () => rawWs(s.url, ''))
      for (const peer of peers) sids.push((await peer.hello()).sid)
      for (const peer of peers) peer.ws.terminate()
    }
    expect(new Set(sids).size).toBe(sids.length)
    for (const sid of sids) expect(sid).toMatch(/^[A-Za-z0-9_-]{32}$/)
    // Character entropy over 9,600 characters: close to the 6 bits per character of base64url.
    const counts = new Map<string, number>()
    for (const ch of sids.join('')) counts.set(ch, (counts.get(ch) ?? 0) + 1)
    const total = sids.length * 32
    const entropy = -[...counts.values()].reduce((h, n) => h + (n / total) * Math.log2(n / total), 0)
    expect(entropy).toBeGreaterThan(5.9)
    // No shared structure: sorted neighbours share only a short prefix.
    const sorted = [...sids].sort()
    let longest = 0
    for (let i = 1; i < sorted.length; i++) {
      let k = 0
      while (sorted[i]![k] === sorted[i - 1]![k]) k++
      longest = Math.max(longest, k)
    }
    expect(longest).toBeLessThanOrEqual(4)
    for (const conn of s.realtime.connections) for (const sid of sids) expect(sid.includes(conn.id)).toBe(false)
  })

  describe('are bound to the identity that created them', () => {
    async function setup() {
      const u = users({ 'alice-token': 'alice', 'mallory-token': 'mallory' })
      const s = await server({ authenticate: u.authenticate })
      const aliceGot: unknown[] = []
      s.realtime.on('connection', (conn) => conn.on('message', (m) => aliceGot.push({ user: (conn.user as { id: string }).id, m })))
      const alice = rawWs(s.url, '&access_token=alice-token')
      const { sid } = await alice.hello()
      const conn = s.realtime.connections.at(-1)!
      for (let n = 1; n <= 3; n++) void conn.send({ type: 'chat', from: 'bank', text: `alice secret ${n}` })
      await until(() => alice.frames.filter((f) => f.t === 'msg').length === 3)
      return { s, u, alice, sid, conn, aliceGot }
    }
    const secrets = (frames: ServerFrame[]) => frames.filter((f) => f.t === 'msg' && JSON.stringify(f).includes('alice secret'))

    it('a POST with her session token and other credentials is refused (403), without credentials 401', async () => {
      const { s, sid, aliceGot, alice } = await setup()
      const body = JSON.stringify([{ t: 'msg', seq: 1, d: { type: 'chat', text: 'from mallory' } }])
      const post = (headers: Record<string, string>) => fetch(`${s.url}?v=1&sid=${sid}`, { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } })
      const asMallory = await post({ Authorization: 'Bearer mallory-token' })
      expect(asMallory.status).toBe(403)
      expect(await asMallory.json()).toMatchObject([{ t: 'error', code: 'forbidden' }])
      expect((await post({})).status).toBe(401)
      expect((await post({ Authorization: 'Bearer alice-token' })).status).toBe(200) // the owner may
      expect(aliceGot).toEqual([{ user: 'alice', m: { type: 'chat', text: 'from mallory' } }]) // only the owner's POST landed
      expect(closeCode(alice)).toBe(0)
    })

    it.each<TransportKind>(['websocket', 'sse'])('a %s resume with her session token and other credentials gets a new, empty session; hers is untouched', async (transport) => {
      const { s, sid, alice, conn } = await setup()
      const query = `&sid=${sid}&last=0`
      const mallory =
        transport === 'websocket'
          ? rawWs(s.url, query + '&access_token=mallory-token')
          : await ssePeer(s.url, query, { Authorization: 'Bearer mallory-token', 'Last-Event-ID': '0' })
      await until(() => mallory.frames.some((f) => f.t === 'hello'))
      const hello = mallory.frames.find((f) => f.t === 'hello') as Extract<ServerFrame, { t: 'hello' }>
      expect(hello.sid).not.toBe(sid)
      expect(hello).toMatchObject({ resumed: false, reset: 'session_unknown' })
      // Alice keeps her connection and her stream; Mallory got none of it, replayed or new.
      void conn.send({ type: 'chat', from: 'bank', text: 'alice secret 4' })
      await until(() => secrets(alice.frames).length === 4)
      expect(conn.transport).toBe('websocket')
      expect(closeCode(alice)).toBe(0)
      expect(secrets(mallory.frames)).toEqual([])
      expect(s.realtime.connections.map((c) => (c.user as { id: string }).id).sort()).toEqual(['alice', 'mallory'])
    })

    it('without credentials, a resume is refused outright', async () => {
      const { s, sid } = await setup()
      const ws = rawWs(s.url, `&sid=${sid}`)
      await until(() => closeCode(ws) !== 0)
      expect(closeCode(ws)).toBe(4401)
      expect(secrets(ws.frames)).toEqual([])
      const sse = await ssePeer(s.url, `&sid=${sid}`)
      expect(sse.res.status).toBe(401)
    })
  })
})

describe('Origin and CORS', () => {
  it('default same-origin: a cross-site WebSocket hijack carrying the victim’s cookie is refused before authenticate() runs', async () => {
    let authCalls = 0
    const s = await server({
      authenticate: (req) => {
        authCalls++
        return /session=alice/.test(String(req.headers.cookie)) ? { id: 'alice' } : null
      },
    })
    const hijack = rawWs(s.url, '', { Origin: 'https://evil.example', Cookie: 'session=alice' })
    await until(() => wsError(hijack) !== '' || closeCode(hijack) !== 0)
    // Contract C2: accept, one fatal origin_not_allowed error frame (no hello, no session), close 4403.
    expect(closeCode(hijack)).toBe(4403)
    expect(hijack.frames).toEqual([expect.objectContaining({ t: 'error', code: 'origin_not_allowed', fatal: true })])
    expect(authCalls).toBe(0)
    // The same request from the site itself (Origin = Host) and from a non-browser (no Origin) is served.
    const host = new URL(s.url).host
    await rawWs(s.url, '', { Origin: `http://${host}`, Cookie: 'session=alice' }).hello()
    await rawWs(s.url, '', { Cookie: 'session=alice' }).hello()
    expect(authCalls).toBe(2)
  })

  it('default same-origin: cross-site SSE, POST and preflight get 403 and no CORS headers', async () => {
    const s = await server()
    for (const [method, headers] of [
      ['GET', { Accept: 'text/event-stream' }],
      ['POST', { 'Content-Type': 'application/json' }],
      ['OPTIONS', { 'Access-Control-Request-Method': 'POST' }],
    ] as const) {
      const res = await fetch(`${s.url}?v=1&sid=x`, { method, headers: { ...headers, Origin: 'https://evil.example' }, body: method === 'POST' ? '[]' : undefined })
      expect(res.status, method).toBe(403)
      expect(res.headers.get('access-control-allow-origin'), method).toBeNull()
    }
  })

  it('an allow-list admits exactly the listed origins, with credentials, on every transport', async () => {
    const s = await server({ allowedOrigins: ['https://app.example'] })
    const ok = await fetch(`${s.url}?v=1`, { method: 'OPTIONS', headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST' } })
    expect(ok.status).toBe(204)
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true')
    await rawWs(s.url, '', { Origin: 'https://app.example' }).hello()
    for (const origin of ['https://evil.example', 'https://app.example.evil.example', 'http://app.example', 'null']) {
      const ws = rawWs(s.url, '', { Origin: origin })
      await until(() => wsError(ws) !== '' || closeCode(ws) !== 0)
      expect(closeCode(ws), origin).toBe(4403)
      expect(ws.frames.map((f) => f.t === 'error' && f.code), origin).toEqual(['origin_not_allowed'])
      const res = await fetch(`${s.url}?v=1`, { headers: { Origin: origin, Accept: 'text/event-stream' } })
      expect(res.status, origin).toBe(403)
    }
  })
})
