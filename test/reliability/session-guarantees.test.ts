/**
 * Session-layer guarantees (issue #12 items 1, 3 and the server half of item 10):
 *
 * - a failing application handler (a `message` listener that throws or rejects, a throwing
 *   `connection` listener) is answered `server_error` and reported on `error`; the process and
 *   every other session carry on;
 * - a resolved client send() was accepted exactly once, even when the replies to hundreds of
 *   nacked frames are lost and the client resends them (SSE + POST and WebSocket);
 * - a WebSocket joining a session whose live connection is SSE (the background probe) does not
 *   take delivery away from the SSE stream until its first client frame (contract C3), and a
 *   replaced connection is destroyed, not only ended.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { connect, type Socket } from 'node:net'
import { WebSocket } from 'ws'
import { createParser } from 'eventsource-parser'
import { RejectedError } from '../../src'
import { parseServerFrame, type ServerFrame } from '../../src/protocol'
import type { StandardSchemaV1 } from '../../src/schema'
import { coreOf } from '../../src/server/core/core'
import { startProxy } from '../support/proxy'
import { ClientMessage } from '../support/schemas'
import { closeClients, makeClient, startServer, until, waitFor, type TestServer } from '../support/servers'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  closeClients()
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function serve(opts: Parameters<typeof startServer>[0] = {}): Promise<TestServer & { errors: unknown[] }> {
  const s = await startServer(opts)
  const errors: unknown[] = []
  s.realtime.on('error', (e) => errors.push(e))
  cleanups.push(() => s.close())
  return { ...s, errors }
}

const settle = (p: Promise<void>) =>
  p.then(
    () => 'ok' as const,
    (e: unknown) => (e instanceof RejectedError ? e.serverCode : `other: ${String(e)}`),
  )

describe.each(['websocket', 'sse'] as const)('a failing handler (%s)', (transport) => {
  it('a message handler that throws synchronously: that send() rejects server_error, the server emits error, the rest carries on', async () => {
    const s = await serve()
    s.realtime.on('connection', (conn) =>
      conn.on('message', (m) => {
        if (m.type === 'chat' && m.text === 'boom') throw new Error('handler bug')
      }),
    )
    const a = makeClient(s.url, { transports: [transport] })
    const b = makeClient(s.url, { transports: [transport] })
    await Promise.all([a.connect(), b.connect()])
    const echoes: string[] = []
    b.onMessage('echo', (m) => echoes.push(m.text))
    expect(await settle(a.send({ type: 'chat', text: 'boom' }))).toBe('server_error')
    expect(s.errors.map((e) => (e as Error).message)).toEqual(['handler bug'])
    // The same session and another one both carry on.
    expect(await settle(a.send({ type: 'echo', text: 'after' }))).toBe('ok')
    await b.send({ type: 'echo', text: 'other' })
    await until(() => echoes.includes('other'), 15_000, 'the other session’s echo')
  })

  it('an async message handler that rejects: the send() rejects server_error only after it settled', async () => {
    const s = await serve()
    let finished = 0
    s.realtime.on('connection', (conn) =>
      conn.on('message', async (m) => {
        await new Promise((r) => setTimeout(r, 5))
        finished++
        if (m.type === 'chat') throw new Error('async handler bug')
      }),
    )
    const a = makeClient(s.url, { transports: [transport] })
    await a.connect()
    expect(await settle(a.send({ type: 'chat', text: 'x' }))).toBe('server_error')
    expect(finished).toBe(1)
    expect(s.errors.map((e) => (e as Error).message)).toEqual(['async handler bug'])
    expect(await settle(a.send({ type: 'echo', text: 'y' }))).toBe('ok')
    expect(finished).toBe(2) // acked after the handler finished, never before
  })

  it('a connection listener that throws: reported on error, the session still works', async () => {
    const s = await serve()
    s.realtime.on('connection', () => {
      throw new Error('connection listener bug')
    })
    const a = makeClient(s.url, { transports: [transport] })
    await a.connect()
    const got = waitFor<{ text: string }>((fn) => a.onMessage('echo', fn), undefined, 15_000, 'echo')
    await a.send({ type: 'echo', text: 'still here' })
    expect((await got).text).toBe('still here')
    expect(s.errors.map((e) => (e as Error).message)).toEqual(['connection listener bug'])
  })
})

/**
 * An `incoming` schema that refuses every `chat` whose text starts with "bad" and calls `onValidated`
 * with the number of frames validated so far, so a test can cut the connection once the server has
 * read them all (validation runs once per new frame, never for a duplicate).
 */
function refusingSchema(onValidated: (n: number) => void): typeof ClientMessage {
  let n = 0
  const std = ClientMessage['~standard']
  const validate = (v: unknown): StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>> => {
    onValidated(++n)
    const text = (v as { type?: unknown; text?: unknown } | null)?.text
    if ((v as { type?: unknown })?.type === 'chat' && typeof text === 'string' && text.startsWith('bad')) {
      return { issues: [{ message: 'refused by the test schema' }] }
    }
    return std.validate(v)
  }
  return { '~standard': { ...std, validate } } as unknown as typeof ClientMessage
}

describe.each(['websocket', 'sse'] as const)('lost replies to nacked frames (%s)', (transport) => {
  it('600 sends, 590 nacked, every reply lost, all resent: exactly the 10 accepted ones resolve', async () => {
    const N = 600
    let cut = false
    // The proxy delays every chunk, so the server's replies are still in flight when the test cuts
    // every connection: the client sees none of them, and resends all 600 after it reconnects.
    const proxyRef: { drop?: () => void } = {}
    const s = await serve({
      incoming: refusingSchema((n) => {
        if (n === N && !cut) {
          cut = true
          proxyRef.drop?.()
        }
      }),
    })
    const handled: string[] = []
    s.realtime.on('connection', (conn) => conn.on('message', (m) => m.type === 'chat' && handled.push(m.text)))
    const proxy = await startProxy({ targetPort: s.port, delayMs: 300 })
    cleanups.push(() => proxy.close())
    proxyRef.drop = () => proxy.dropAll()
    const c = makeClient(proxy.url('/realtime'), { transports: [transport], maxQueuedMessages: N })
    await c.connect()
    const texts = Array.from({ length: N }, (_, i) => (i % 60 === 0 ? `good ${i}` : `bad ${i}`))
    const results = await Promise.all(texts.map((text) => settle(c.send({ type: 'chat', text }))))
    expect(cut).toBe(true)
    const resolved = texts.filter((_, i) => results[i] === 'ok')
    expect(results.filter((r) => r !== 'ok' && r !== 'invalid_message')).toEqual([])
    expect(resolved).toEqual(texts.filter((t) => t.startsWith('good')))
    expect(handled).toEqual(resolved) // each accepted once, none of the refused ones reported accepted
  })
})

it('a resend older than resendWindow is never acked (its nack may have been forgotten)', async () => {
  const s = await serve({ resendWindow: 3, incoming: refusingSchema(() => {}) })
  const ws = new WebSocket(s.url.replace(/^http/, 'ws') + '?v=1')
  cleanups.push(() => ws.terminate())
  const frames: ServerFrame[] = []
  ws.on('message', (d) => frames.push(parseServerFrame(String(d))))
  await until(() => frames.some((f) => f.t === 'hello'))
  const chat = (seq: number, text: string) => ws.send(JSON.stringify({ t: 'msg', seq, d: { type: 'chat', text } }))
  chat(1, 'bad 1')
  for (let seq = 2; seq <= 6; seq++) chat(seq, `good ${seq}`)
  await until(() => frames.some((f) => f.t === 'ack' && f.seq === 6))
  const before = frames.length // the acks of 2…6 may be coalesced (cumulative): count answers from here
  chat(1, 'bad 1') // 5 frames back: beyond the window of 3, its nack is forgotten
  chat(5, 'good 5') // within the window: an accepted frame, acked again
  await until(() => frames.slice(before).filter((f) => f.t === 'nack' || f.t === 'ack').length >= 2)
  const answers = frames.slice(before).filter((f) => f.t === 'nack' || f.t === 'ack')
  expect(answers[0]).toMatchObject({ t: 'nack', seq: 1, code: 'bad_frame' })
  expect(answers[1]).toEqual({ t: 'ack', seq: 5 })
})

// ---------------------------------------------------------------- contract C3 (server half)

/** An SSE reader over fetch. */
async function sse(url: string) {
  const ac = new AbortController()
  cleanups.push(() => ac.abort())
  const res = await fetch(url, { headers: { Accept: 'text/event-stream' }, signal: ac.signal })
  const frames: ServerFrame[] = []
  const parser = createParser({ onEvent: (e) => frames.push(parseServerFrame(e.data)) })
  let ended = false
  void (async () => {
    const reader = res.body!.getReader()
    const dec = new TextDecoder()
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) parser.feed(dec.decode(r.value, { stream: true }))
    } catch {}
    ended = true
  })()
  return { frames, ended: () => ended, ids: () => frames.flatMap((f) => (f.t === 'msg' ? [f.id] : [])) }
}

function ws(url: string) {
  const sock = new WebSocket(url)
  cleanups.push(() => sock.terminate())
  const frames: ServerFrame[] = []
  sock.on('message', (d) => frames.push(parseServerFrame(String(d))))
  let closed: number | undefined
  sock.on('close', (code) => (closed = code))
  return { sock, frames, closed: () => closed, ids: () => frames.flatMap((f) => (f.t === 'msg' ? [f.id] : [])) }
}

describe('a WebSocket joining a live SSE session (contract C3)', () => {
  async function setup() {
    const s = await serve()
    const stream = await sse(s.url + '?v=1')
    await until(() => stream.frames.some((f) => f.t === 'hello'))
    const sid = (stream.frames[0] as Extract<ServerFrame, { t: 'hello' }>).sid
    const conn = s.realtime.connections[0]!
    void conn.send({ type: 'tick', n: 1 })
    await until(() => stream.ids().includes(1))
    return { s, stream, sid, conn }
  }

  it('keeps feeding the SSE stream until the WebSocket’s first client frame, then ends it', async () => {
    const { s, stream, sid, conn } = await setup()
    const probe = ws(s.url.replace(/^http/, 'ws') + `?v=1&sid=${sid}&last=1`)
    await until(() => probe.frames.some((f) => f.t === 'hello'))
    expect(probe.frames[0]).toMatchObject({ t: 'hello', sid, resumed: true })
    expect(conn.transport).toBe('sse')
    void conn.send({ type: 'tick', n: 2 })
    await until(() => stream.ids().includes(2) && probe.ids().includes(2), 15_000, 'message 2 on both')
    expect(stream.ended()).toBe(false)
    probe.sock.send(JSON.stringify({ t: 'ping', n: 7 }))
    await until(() => probe.frames.some((f) => f.t === 'pong'), 15_000, 'pong on the probe')
    await until(() => stream.ended(), 15_000, 'the SSE stream to end')
    expect(conn.transport).toBe('websocket')
    void conn.send({ type: 'tick', n: 3 })
    await until(() => probe.ids().includes(3))
    expect(stream.ids()).toEqual([1, 2])
    expect(probe.ids()).toEqual([2, 3])
  })

  it('a probe that closes before sending a frame leaves the SSE stream as it was', async () => {
    const { s, stream, sid, conn } = await setup()
    const probe = ws(s.url.replace(/^http/, 'ws') + `?v=1&sid=${sid}&last=1`)
    await until(() => probe.frames.some((f) => f.t === 'hello'))
    probe.sock.close()
    await until(() => probe.closed() !== undefined)
    const session = () => coreOf(s.realtime).sessions.sessions.get(sid)
    await until(() => session()?.probe === null, 15_000, 'the probe to detach')
    expect(session()?.expiring).toBe(false) // no resume window: the session is live
    void conn.send({ type: 'tick', n: 2 })
    await until(() => stream.ids().includes(2))
    expect(stream.ended()).toBe(false)
    expect(conn.transport).toBe('sse')
  })

  it('any other replacement is immediate, and the replaced connection is destroyed even if its reader stopped reading', async () => {
    const { s, sid, conn, stream } = await setup()
    const serverSide = new Map<number, Socket>()
    s.http.on('connection', (sock: Socket) => serverSide.set(sock.remotePort!, sock))
    // A second SSE GET for the same session that never reads: the server fills its buffers.
    const stalled: Socket = connect(s.port, '127.0.0.1')
    cleanups.push(() => stalled.destroy())
    stalled.on('error', () => {})
    await new Promise<void>((r) => stalled.once('connect', () => r()))
    stalled.write(`GET /realtime?v=1&sid=${sid}&last=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`)
    stalled.pause()
    await until(() => stream.ended(), 15_000, 'the first stream to be replaced at once by the stalled one')
    const big = 'x'.repeat(64 * 1024)
    for (let i = 0; i < 64; i++) void conn.send({ type: 'echo', text: big }) // 4 MiB the stalled reader never reads
    const victim = serverSide.get(stalled.localPort!)!
    expect(victim.destroyed).toBe(false)
    const next = await sse(s.url + `?v=1&sid=${sid}&last=1`) // SSE replacing SSE: immediate
    await until(() => next.frames.some((f) => f.t === 'hello'))
    await until(() => victim.destroyed, 15_000, 'the replaced response’s socket to be destroyed')
  })
})
