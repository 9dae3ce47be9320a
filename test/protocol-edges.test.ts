/** Protocol edges found in review: lost nacks, sequence gaps, retryable auth outages, CORS '*', limits learned late. */
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import type { ServerFrame } from '../src/protocol'
import { bearerToken } from '../src/server'
import type { StatusEvent } from '../src'
import { closeClients, makeClient, startServer, waitFor, type TestServer } from './support/servers'

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

/** A hand-driven protocol peer: collects frames, lets the test wait for one. */
async function peer(url: string) {
  const ws = new WebSocket(url.replace('http', 'ws') + '?v=1')
  sockets.push(ws)
  const frames: ServerFrame[] = []
  const waiters: (() => void)[] = []
  ws.on('message', (d) => {
    frames.push(JSON.parse(String(d)))
    for (const w of waiters.splice(0)) w()
  })
  await new Promise((r) => ws.once('open', r))
  const next = async (pred: (f: ServerFrame) => boolean): Promise<ServerFrame> => {
    for (;;) {
      const i = frames.findIndex(pred)
      if (i >= 0) return frames.splice(i, 1)[0]!
      await new Promise<void>((r) => waiters.push(r))
    }
  }
  return { ws, next, send: (f: unknown) => ws.send(JSON.stringify(f)) }
}

describe('sequence handling', () => {
  it('repeats a nack for a resent frame instead of acking it', async () => {
    const s = await server()
    const p = await peer(s.url)
    await p.next((f) => f.t === 'hello')
    p.send({ t: 'msg', seq: 1, d: { type: 'nope' } })
    expect(await p.next((f) => f.t === 'nack')).toMatchObject({ seq: 1, code: 'invalid_message' })
    p.send({ t: 'msg', seq: 1, d: { type: 'nope' } }) // the client never saw the nack and resends
    expect(await p.next((f) => f.t === 'nack' || f.t === 'ack')).toMatchObject({ t: 'nack', seq: 1 })
  })

  it('refuses a sequence gap rather than silently skipping frames', async () => {
    const s = await server()
    const seen: unknown[] = []
    s.realtime.on('connection', (c) => c.on('message', (m) => seen.push(m)))
    const p = await peer(s.url)
    await p.next((f) => f.t === 'hello')
    p.send({ t: 'msg', seq: 2, d: { type: 'count', n: 2 } })
    expect(await p.next((f) => f.t === 'nack')).toMatchObject({ seq: 2, code: 'bad_frame' })
    p.send({ t: 'msg', seq: 1, d: { type: 'count', n: 1 } })
    expect(await p.next((f) => f.t === 'ack')).toMatchObject({ seq: 1 })
    expect(seen).toEqual([{ type: 'count', n: 1 }])
  })
})

describe('auth outages', () => {
  it('treats a throwing authenticate() as retryable (500 / 1011), not as a refusal', async () => {
    let down = true
    const s = await server({
      authenticate: (req) => {
        if (down) throw new Error('auth backend down')
        return bearerToken(req) === 't' ? { id: 'a' } : null
      },
    })
    s.realtime.on('error', () => {}) // reported, survived
    const sse = await fetch(s.url, { headers: { Accept: 'text/event-stream' } })
    expect(sse.status).toBe(500)
    for (const transport of ['websocket', 'sse'] as const) {
      down = true
      const c = makeClient(s.url, { transports: [transport], token: () => 't' })
      const retrying = waitFor((fn: (e: StatusEvent) => void) => c.on('status', fn), (e) => e.status === 'reconnecting' && e.attempt >= 3)
      const opened = c.connect()
      await retrying // more attempts than authRetries allows: it was not counted as an auth failure
      down = false
      await opened
      expect(c.status).toBe('open')
    }
  })
})

describe('CORS', () => {
  it("allowedOrigins '*' never allows credentials", async () => {
    const s = await server({ allowedOrigins: '*' })
    const res = await fetch(s.url, { method: 'OPTIONS', headers: { Origin: 'http://any.example' } })
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    expect(res.headers.get('access-control-allow-credentials')).toBeNull()
  })
})

describe('limits learned from the hello', () => {
  it('rejects queued messages larger than the server accepts instead of looping on them', async () => {
    const s = await server({ maxFrameBytes: 300 })
    const seen: number[] = []
    s.realtime.on('connection', (c) => c.on('message', (m) => m.type === 'count' && seen.push(m.n)))
    const c = makeClient(s.url)
    const small1 = c.send({ type: 'count', n: 1 })
    const big = c.send({ type: 'chat', text: 'x'.repeat(1_000) })
    const small2 = c.send({ type: 'count', n: 2 })
    await c.connect()
    await expect(big).rejects.toMatchObject({ code: 'too_large' })
    await Promise.all([small1, small2])
    expect(seen).toEqual([1, 2])
  })
})
