/**
 * A transport reports nothing once `close()` was called on it (the Reporter, src/client/report.ts):
 * not the frames still in the chunk or POST answer being handled, not the replies it queued, not
 * the frame a codec makes up when the connection opens, not the end its own abort causes. The
 * client's state machine relies on this: it keeps no check of its own for a connection it has
 * dropped (client.ts, the connection record's callbacks).
 *
 * Each case closes the transport at a point where something would still be reported (from inside
 * a handler, or while a request is in flight) and then waits for the server to see the connection
 * end plus one macrotask: by then everything the close set off has run. With the Reporter's `done`
 * checks removed, 9 of the 12 cases fail (every SSE case, and the WebSocket cases where the codec
 * reports on its own); the other three hold through the WebSocket transport's own nulled handlers
 * and readyState check, and pin that no event of the socket gets through in any runtime.
 *
 * The one failure no transport reports, a transport constructor that threw, the client reports
 * itself from a microtask, and it checks there that the connection is still in use (last describe).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { compat, type SurewireError, type WebSocketConstructor } from '../../src'
import { surewireCodec, type Codec } from '../../src/client/codec'
import { openTransport, type TransportContext } from '../../src/client/open'
import type { Transport, TransportHandlers, TransportKind } from '../../src/client/transport'
import { resolveEndpoints } from '../../src/client/url'
import type { FetchLike } from '../../src/client/sse'
import type { ClientFrame, ServerFrame } from '../../src/protocol'
import { hello, hostilePeer, sseHead, type HostilePeer } from '../reliability/fixtures/hostile-peer'
import { closeClients, makeClient, startServer, TestWebSocket, until, type TestServer } from '../support/servers'

let peer: HostilePeer
beforeEach(async () => {
  peer = await hostilePeer()
})
afterEach(async () => {
  await peer.close()
})

/** One macrotask: what a close set off in promise reactions and microtasks has run by then. */
const turn = () => new Promise((r) => setTimeout(r, 0))

/**
 * Resolves once the server saw the client end the connection behind `on` (a response, a socket, a
 * WebSocket). Made where the server gets the connection, so an end that comes at once is not missed.
 */
const ended = (on: { once(e: string, fn: () => void): unknown }, event = 'close') => new Promise<void>((r) => on.once(event, () => r()))

interface Opened {
  t: Transport
  /** Every report, in order (`open`, `frame:<t>`, `bad`, `unsendable`, `close:<cause>`). */
  calls: string[]
  /** Reports that came after close() was called. */
  late: string[]
  frames: ServerFrame[]
  close(): void
}

/** Open one transport on the peer; `react` runs on each report (it may call close()). */
function open(kind: TransportKind, codec: Codec = surewireCodec, react: (call: string, x: Opened) => void = () => {}, opts: Partial<TransportContext> = {}): Opened {
  let closed = false
  const x: Opened = {
    t: undefined as never,
    calls: [],
    late: [],
    frames: [],
    close() {
      closed = true
      x.t.close()
    },
  }
  const report = (call: string) => {
    x.calls.push(call)
    if (closed) x.late.push(call)
    else react(call, x)
  }
  const h: TransportHandlers = {
    onOpen: () => report('open'),
    onFrame: (f) => (x.frames.push(f), report(`frame:${f.t}`)),
    onBadFrame: () => report('bad'),
    onUnsendable: () => report('unsendable'),
    onClose: (i) => report(`close:${i.cause}`),
  }
  const ctx: TransportContext = {
    WebSocket: TestWebSocket,
    fetch: globalThis.fetch.bind(globalThis),
    endpoints: resolveEndpoints(peer.url),
    maxFrameBytes: () => 1_048_576,
    postTimeoutMs: 60_000,
    ...opts,
  }
  x.t = openTransport(codec, kind, ctx, { token: undefined, sid: undefined, lastId: 0 }, h)
  return x
}

const msg = (seq: number, d: unknown = { type: 'chat', text: 'x' }): ClientFrame => ({ t: 'msg', seq, d })
const event = (frame: object) => `data: ${JSON.stringify(frame)}\n\n`

describe('SSE + POST: nothing is reported after close()', () => {
  it('closed while the GET waits for its response: the abort it causes is not reported', async () => {
    let gone: Promise<void> | undefined
    peer.script.sse = (res) => (gone = ended(res)) // never answered
    const x = open('sse')
    await until(() => gone !== undefined, 15_000, 'the SSE GET')
    x.close()
    await gone
    await turn()
    expect(x.calls).toEqual([])
  })

  it('closed while the stream is open and idle: the reader\'s abort is not reported', async () => {
    let gone: Promise<void> | undefined
    peer.script.sse = (res) => {
      gone = ended(res)
      sseHead(res)
      res.write(`data: ${hello()}\n\n`)
    }
    const x = open('sse')
    await until(() => x.frames.length === 1, 15_000, 'hello')
    x.close()
    await gone
    await turn()
    expect([x.calls, x.late]).toEqual([['open', 'frame:hello'], []])
  })

  it('closed from the handler of the first of several events in one chunk: the rest of the chunk is not reported', async () => {
    let gone: Promise<void> | undefined
    peer.script.sse = (res) => {
      gone = ended(res)
      sseHead(res)
      res.write(`data: ${hello()}\n\n` + event({ t: 'msg', id: 1, d: 1 }) + event({ t: 'msg', id: 2, d: 2 }) + 'data: not json\n\n')
    }
    const x = open('sse', surewireCodec, (call, o) => call === 'frame:hello' && o.close())
    await until(() => x.calls.includes('frame:hello'), 15_000, 'hello')
    await gone
    await turn()
    expect([x.calls, x.late]).toEqual([['open', 'frame:hello'], []])
  })

  it('closed while a POST is in flight: its abort is not reported', async () => {
    let gone: Promise<void> | undefined
    peer.script.sse = (r) => (sseHead(r), r.write(`data: ${hello()}\n\n`))
    peer.script.post = (_body, res) => (gone = ended(res)) // never answered
    const x = open('sse')
    await until(() => x.frames.length === 1, 15_000, 'hello')
    x.t.send([msg(1)])
    await until(() => gone !== undefined, 15_000, 'the POST')
    x.close()
    await gone
    await turn()
    expect([x.calls, x.late]).toEqual([['open', 'frame:hello'], []])
  })

  it('closed from the handler of the first frame of a POST answer: the rest of the answer is not reported', async () => {
    let gone: Promise<void> | undefined
    peer.script.sse = (res) => ((gone = ended(res)), sseHead(res), res.write(`data: ${hello()}\n\n`))
    peer.script.post = (_body, r) => r.writeHead(200, { 'Content-Type': 'application/json' }).end('[{"t":"ack","seq":1},{"t":"ack","seq":2},{"t":"bogus"}]')
    const x = open('sse', surewireCodec, (call, o) => call === 'frame:ack' && o.close())
    await until(() => x.frames.length === 1, 15_000, 'hello')
    x.t.send([msg(1), msg(2)])
    await until(() => x.calls.includes('frame:ack'), 15_000, 'the first ack')
    await gone
    await turn()
    expect([x.calls, x.late]).toEqual([['open', 'frame:hello', 'frame:ack'], []])
  })

  it('closed from the open handler: the hello a codec makes up on open is not reported (compat)', async () => {
    let gone: Promise<void> | undefined
    peer.script.sse = (res) => ((gone = ended(res)), sseHead(res), res.write('data: {"type":"x"}\n\n'))
    const x = open('sse', compat(), (call, o) => call === 'open' && o.close())
    await until(() => x.calls.includes('open'), 15_000, 'open')
    await gone
    await turn()
    expect([x.calls, x.late]).toEqual([['open'], []])
  })

  it('send() after close(): nothing written, nothing reported (not even a frame over the limit)', async () => {
    let gone: Promise<void> | undefined
    peer.script.sse = (res) => ((gone = ended(res)), sseHead(res), res.write(`data: ${hello()}\n\n`))
    const x = open('sse', surewireCodec, undefined, { maxFrameBytes: () => 64 })
    await until(() => x.frames.length === 1, 15_000, 'hello')
    x.close()
    x.t.send([msg(1, 'x'.repeat(100)), { t: 'ping' }])
    await gone
    await turn()
    expect([x.calls, x.late, peer.seen.posts]).toEqual([['open', 'frame:hello'], [], []])
  })
})

describe('WebSocket: nothing is reported after close()', () => {
  it('closed while connecting: nothing is reported (not the error and close the runtime fires for it)', async () => {
    let upgrade: import('node:net').Socket | undefined
    let gone: Promise<void> | undefined
    // Held: the handshake never completes. (An upgrade socket stays half-open: its end is `end`.)
    peer.script.upgrade = (socket) => ((upgrade = socket), (gone = Promise.race([ended(socket, 'end'), ended(socket)])), true)
    const x = open('websocket')
    await until(() => gone !== undefined, 15_000, 'the upgrade request')
    x.close()
    await gone
    await turn()
    upgrade!.destroy()
    expect(x.calls).toEqual([])
  })

  it('closed from the handler of the hello: what the server sends after it, and its close, are not reported', async () => {
    let gone: Promise<void> | undefined
    peer.script.ws = (ws) => {
      gone = ended(ws)
      ws.send(hello())
      ws.send(JSON.stringify({ t: 'msg', id: 1, d: 1 }))
      ws.send('not json')
      ws.close(4000, 'bye')
    }
    const x = open('websocket', surewireCodec, (call, o) => call === 'frame:hello' && o.close())
    await until(() => x.calls.includes('frame:hello'), 15_000, 'hello')
    await gone
    await turn()
    expect([x.calls, x.late]).toEqual([['open', 'frame:hello'], []])
  })

  it('closed from the open handler: the hello a codec makes up on open is not reported (compat)', async () => {
    let gone: Promise<void> | undefined
    peer.script.ws = (ws) => ((gone = ended(ws)), ws.send('{"type":"x"}'))
    const x = open('websocket', compat(), (call, o) => call === 'open' && o.close())
    await until(() => gone !== undefined && x.calls.includes('open'), 15_000, 'open')
    await gone
    await turn()
    expect([x.calls, x.late]).toEqual([['open'], []])
  })

  it('replies a codec answers itself: none after close(), whether it came right after send() or from a handler of the first', async () => {
    const gone: Promise<void>[] = []
    peer.script.ws = (ws) => gone.push(ended(ws))
    // compat() without a `ping` message answers every ping itself with a `pong` (reported after send() returns).
    const x = open('websocket', compat(), (call, o) => call === 'frame:pong' && o.close())
    await until(() => gone.length === 1 && x.calls.includes('frame:hello'), 15_000, 'open')
    x.t.send([{ t: 'ping' }, { t: 'ping' }])
    await until(() => x.calls.includes('frame:pong'), 15_000, 'the first pong')
    await gone[0]
    await turn()
    expect([x.calls, x.late]).toEqual([['open', 'frame:hello', 'frame:pong'], []])

    const y = open('websocket', compat())
    await until(() => gone.length === 2 && y.calls.includes('frame:hello'), 15_000, 'open')
    y.t.send([{ t: 'ping' }])
    y.close() // before the reply's microtask
    await gone[1]
    await turn()
    expect([y.calls, y.late]).toEqual([['open', 'frame:hello'], []])
  })

  it('send() after close(): nothing written, nothing reported (not even a frame over the limit)', async () => {
    let gone: Promise<void> | undefined
    const received: string[] = []
    peer.script.ws = (ws) => {
      gone = ended(ws)
      ws.on('message', (m) => received.push(String(m)))
      ws.send(hello())
    }
    const x = open('websocket', surewireCodec, undefined, { maxFrameBytes: () => 64 })
    await until(() => x.frames.length === 1, 15_000, 'hello')
    x.close()
    x.t.send([msg(1, 'x'.repeat(100)), { t: 'ping' }])
    await gone
    await turn()
    expect([x.calls, x.late, received]).toEqual([['open', 'frame:hello'], [], []])
  })
})

describe('the client: a transport that could not even be constructed', () => {
  let server: TestServer | undefined
  afterEach(async () => {
    closeClients()
    await server?.close()
    server = undefined
  })

  it('is a failed attempt with the reason in the status detail', async () => {
    server = await startServer()
    const Throws = class {
      constructor() {
        throw new Error('no sockets here')
      }
    } as unknown as WebSocketConstructor
    const c = makeClient(server.url, { WebSocket: Throws, transports: ['websocket'], maxAttempts: 1 })
    const err = await c.connect().then(() => undefined, (e: unknown) => e as SurewireError)
    expect(err?.code).toBe('gave_up')
    expect(err?.message).toContain('could not open websocket: no sockets here')
  })

  it('dropped before its failure is reported (close() in between): the failure is not acted on', async () => {
    server = await startServer()
    const gets: string[] = []
    const fetch: FetchLike = (url, init) => (gets.push(url), globalThis.fetch(url, init))
    let c: ReturnType<typeof makeClient> | undefined
    const Throws = class {
      constructor() {
        queueMicrotask(() => c!.close()) // runs before the client hears of the failure
        throw new Error('no sockets here')
      }
    } as unknown as WebSocketConstructor
    // Acted on, the failure would fall back to SSE (one WebSocket failure is enough) after close().
    c = makeClient(server.url, { WebSocket: Throws, fetch, wsFailuresBeforeFallback: 1, sseHeadStartMs: 60_000 })
    const statuses: string[] = []
    c.on('status', (e) => statuses.push(e.status))
    void c.connect().catch(() => {})
    await until(() => c.status === 'closed', 15_000, 'closed')
    await turn()
    expect([statuses, gets]).toEqual([['connecting', 'closed'], []])
  })
})
