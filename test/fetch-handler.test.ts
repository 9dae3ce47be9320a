/** createFetchHandler: SSE + POST as a Fetch-API handler, mounted on a Node http adapter. */
import { afterEach, describe, expect, it } from 'vitest'
import { bearerToken, createFetchHandler, createRealtimeServer, type ServerOptions } from '../src/server'
import type { StatusEvent } from '../src'
import type { ServerMessage as ServerMsg } from './support/schemas'
import { ClientMessage, ServerMessage } from './support/schemas'
import { serveFetch } from './support/fetch-node'
import { closeClients, makeClient, startServer, until, waitFor } from './support/servers'
import { coreOf } from '../src/server/core/core'
const sessionsOf = (r: object) => coreOf(r).sessions.sessions

type Opts = Partial<ServerOptions<typeof ClientMessage, typeof ServerMessage>>
const cleanups: (() => unknown)[] = []
afterEach(async () => {
  closeClients()
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

/** A reference server served only through the fetch handler, with an echo handler. */
async function serveViaFetch(opts: Opts = {}) {
  const realtime = createRealtimeServer({ incoming: ClientMessage, outgoing: ServerMessage, ...opts })
  realtime.on('connection', (conn) => conn.on('message', (m) => m.type === 'echo' && conn.send({ type: 'echo', text: m.text })))
  const srv = await serveFetch(createFetchHandler(realtime))
  cleanups.push(() => srv.close(), () => realtime.close())
  return { realtime, srv, url: srv.url }
}

const messages = (c: ReturnType<typeof makeClient>) => (fn: (m: ServerMsg) => void) => c.on('message', fn)

/** Read an SSE response until `pred` holds for the text so far. */
async function readUntil(res: Response, pred: (text: string) => boolean): Promise<string> {
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let text = ''
  while (!pred(text)) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`stream ended before the condition held: ${text}`)
    text += decoder.decode(value, { stream: true })
  }
  await reader.cancel()
  return text
}

describe('createFetchHandler', () => {
  it('serves a client over SSE + POST: hello, echo, broadcast', async () => {
    const { realtime, url } = await serveViaFetch()
    const c = makeClient(url, { transports: ['sse'] })
    await c.connect()
    expect(c.transport).toBe('sse')
    const echoed = waitFor(messages(c), (m) => m.type === 'echo' && m.text === 'hi', 15_000, 'echo')
    await c.send({ type: 'echo', text: 'hi' })
    await echoed
    const ticked = waitFor(messages(c), (m) => m.type === 'tick' && m.n === 7, 15_000, 'broadcast')
    void realtime.broadcast({ type: 'tick', n: 7 })
    await ticked
    expect(realtime.connections.map((x) => x.transport)).toEqual(['sse'])
  })

  it('resumes the session after the stream drops and replays what was missed', async () => {
    const { realtime, srv, url } = await serveViaFetch()
    const c = makeClient(url, { transports: ['sse'] })
    await c.connect()
    const [conn] = realtime.connections
    const lost = waitFor<StatusEvent>((fn) => c.on('status', fn), (e) => e.status === 'reconnecting', 15_000, 'drop')
    srv.http.closeAllConnections()
    await lost
    await until(() => conn!.transport === null, 15_000, 'the session to be detached')
    void conn!.send({ type: 'tick', n: 42 }) // while the client is away
    const replayed = waitFor(messages(c), (m) => m.type === 'tick' && m.n === 42, 15_000, 'replay')
    await replayed
    expect(c.stats.resumes).toBe(1)
    expect(realtime.connections).toHaveLength(1)
  })

  it('shares sessions with the attached Node server: WebSocket there, SSE here, one broadcast', async () => {
    const node = await startServer()
    cleanups.push(() => node.close())
    const srv = await serveFetch(createFetchHandler(node.realtime))
    cleanups.push(() => srv.close())
    const viaWs = makeClient(node.url, { transports: ['websocket'] })
    const viaSse = makeClient(srv.url, { transports: ['sse'] })
    await Promise.all([viaWs.connect(), viaSse.connect()])
    expect(node.realtime.connections.map((x) => x.transport).sort()).toEqual(['sse', 'websocket'])
    const got = Promise.all([viaWs, viaSse].map((c) => waitFor(messages(c), (m) => m.type === 'tick', 15_000, 'broadcast')))
    void node.realtime.broadcast({ type: 'tick', n: 1 })
    await got
  })

  it('sends heartbeats without any Node server attached', async () => {
    const { url } = await serveViaFetch({ heartbeatIntervalMs: 50 })
    const res = await fetch(`${url}?v=1`, { headers: { Accept: 'text/event-stream' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const text = await readUntil(res, (t) => t.includes('"t":"hb"'))
    expect(text).toMatch(/^data: \{"t":"hello"/)
  })

  it('detaches the session when the stream is aborted', async () => {
    const { realtime, url } = await serveViaFetch()
    const abort = new AbortController()
    const res = await fetch(`${url}?v=1`, { headers: { Accept: 'text/event-stream' }, signal: abort.signal })
    const hello = await readUntil(res, (t) => t.includes('\n\n'))
    const sid = JSON.parse(hello.slice('data: '.length)).sid as string
    expect(sessionsOf(realtime).get(sid)?.sink).not.toBeNull()
    abort.abort()
    await until(() => sessionsOf(realtime).get(sid)?.sink === null, 15_000, 'detach after abort')
  })

  it('answers misuse with the same status codes as the Node server', async () => {
    const { url } = await serveViaFetch({ maxFrameBytes: 1_000, allowedOrigins: ['http://app.example'] })
    const preflight = await fetch(url, { method: 'OPTIONS', headers: { Origin: 'http://app.example' } })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://app.example')
    expect((await fetch(url, { headers: { Origin: 'http://evil.example', Accept: 'text/event-stream' } })).status).toBe(403)
    expect((await fetch(url)).status).toBe(400) // no Accept: text/event-stream
    expect((await fetch(url, { headers: { 'Sec-WebSocket-Key': 'x', 'Sec-WebSocket-Version': '13' } })).status).toBe(426)
    expect((await fetch(url, { method: 'POST', body: '[]' })).status).toBe(400) // no sid
    expect((await fetch(`${url}?sid=nope`, { method: 'POST', body: '[]' })).status).toBe(404)
    expect((await fetch(`${url}?sid=nope`, { method: 'POST', body: 'x'.repeat(2_000) })).status).toBe(413)
    expect((await fetch(url, { method: 'PUT', body: '' })).status).toBe(405)
  })

  it('runs authenticate() on the stream and on POSTs (bearer token from the Fetch request)', async () => {
    const { url } = await serveViaFetch({ authenticate: (req) => (bearerToken(req) === 'good' ? { id: 'u1' } : null) })
    expect((await fetch(url, { headers: { Accept: 'text/event-stream', Authorization: 'Bearer bad' } })).status).toBe(401)
    const c = makeClient(url, { transports: ['sse'], token: () => 'good' })
    await c.connect()
    const echoed = waitFor(messages(c), (m) => m.type === 'echo', 15_000, 'echo')
    await c.send({ type: 'echo', text: 'authed' })
    await echoed
    const refused = makeClient(url, { transports: ['sse'], token: () => 'bad', authRetries: 0 })
    await expect(refused.connect()).rejects.toMatchObject({ code: 'auth_failed' })
  })
})
