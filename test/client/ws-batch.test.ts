/**
 * The client's WebSocket writer (contract B1, client side) against a server on 127.0.0.1 that the
 * test scripts (test/reliability/fixtures/hostile-peer.ts): it sends the hello a test chooses,
 * records every WebSocket message as it arrived, and acks cumulatively like the reference server.
 *
 * - hello `batch: true`: a lone frame is written at once (inside send()); frames that follow it in
 *   the same tick go out as ONE JSON array message once the tick is over, split so that no message
 *   exceeds the hello's maxFrameBytes; every frame once, in seq order;
 * - without `batch: true` (old servers, the FastAPI example): one frame per message, as before;
 * - a message's `d` is serialised once per send (the size check and the wire use the same text).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { WebSocket as WsSocket } from 'ws'
import type { StandardSchemaV1, WebSocketConstructor, WebSocketLike } from '../../src'
import { closeClients, makeClient, startServer, TestWebSocket, until, type TestServer } from '../support/servers'
import { hello, hostilePeer, type HostilePeer } from '../reliability/fixtures/hostile-peer'

let peer: HostilePeer
beforeEach(async () => {
  peer = await hostilePeer()
})
let servers: TestServer[] = []
afterEach(async () => {
  closeClients()
  await peer.close()
  await Promise.all(servers.map((s) => s.close()))
  servers = []
})

interface Wire {
  /** Every WebSocket message the server received, as text. */
  messages: string[]
  /** The `msg` frames in them, flattened, in arrival order (keepalive pings left out). */
  frames: () => { t: string; seq?: number; d?: unknown }[]
}

/** Script the peer: answer every upgrade with this hello, record what arrives, ack each message's last seq. */
function serve(helloExtra: Record<string, unknown>): Wire {
  const messages: string[] = []
  peer.script.ws = (ws: WsSocket) => {
    ws.send(hello(helloExtra))
    ws.on('message', (data) => {
      const text = String(data)
      messages.push(text)
      const v = JSON.parse(text) as { seq?: number } | { seq?: number }[]
      const seqs = (Array.isArray(v) ? v : [v]).map((f) => f.seq).filter((s): s is number => s !== undefined)
      if (seqs.length) ws.send(JSON.stringify({ t: 'ack', seq: Math.max(...seqs) }))
    })
  }
  const frames = () => messages.flatMap((m) => [JSON.parse(m)].flat() as { t: string; seq?: number; d?: unknown }[]).filter((f) => f.t === 'msg')
  return { messages, frames }
}

/** A WebSocket constructor that counts send() calls as they happen (synchronously). */
function countingWebSocket(): { WebSocket: WebSocketConstructor; sends: () => number } {
  let sends = 0
  const Base = TestWebSocket
  const WS = function (url: string, protocols?: string | string[]): WebSocketLike {
    const ws = new Base(url, protocols)
    const send = ws.send.bind(ws)
    ws.send = (data: string) => {
      sends++
      send(data)
    }
    return ws
  } as unknown as WebSocketConstructor
  return { WebSocket: WS, sends: () => sends }
}

/** Accept anything: the tests send plain objects (one with a toJSON that counts). */
const anything: StandardSchemaV1 = { '~standard': { version: 1, vendor: 'test', validate: (value) => ({ value }) } }

function client(WebSocket?: WebSocketConstructor) {
  return makeClient(peer.url, { transports: ['websocket'], outgoing: anything as never, ...(WebSocket ? { WebSocket } : {}) })
}

const count = (n: number) => ({ type: 'count', n })
const isArrayMessage = (m: string) => m.startsWith('[')

describe('WebSocket writer, hello batch: true', () => {
  it('writes a lone frame at once, as a single frame', async () => {
    const wire = serve({ batch: true })
    const ws = countingWebSocket()
    const c = client(ws.WebSocket)
    await c.connect()
    const before = ws.sends()
    const sent = c.send(count(1) as never)
    expect(ws.sends() - before).toBe(1) // written inside send(), before any microtask
    await sent
    expect(wire.messages).toEqual([JSON.stringify({ t: 'msg', d: count(1), seq: 1 })])
  })

  it('sends a burst of one tick as the lone first frame plus ONE array message, in order, each once', async () => {
    const wire = serve({ batch: true })
    const ws = countingWebSocket()
    const c = client(ws.WebSocket)
    await c.connect()
    const before = ws.sends()
    const sent = Array.from({ length: 50 }, (_, i) => c.send(count(i + 1) as never))
    expect(ws.sends() - before).toBe(1) // the rest is held until the tick ends
    await Promise.all(sent)
    expect(ws.sends() - before).toBe(2)
    expect(wire.messages).toHaveLength(2)
    expect(isArrayMessage(wire.messages[0]!)).toBe(false)
    expect(isArrayMessage(wire.messages[1]!)).toBe(true)
    expect(wire.frames().map((f) => f.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect(wire.frames().map((f) => (f.d as { n: number }).n)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect(c.queued).toBe(0)
  })

  it('keeps collecting across an await of a settled promise between sends (a window of sends in flight)', async () => {
    const wire = serve({ batch: true })
    const c = client()
    await c.connect()
    const sent: Promise<void>[] = []
    for (let i = 1; i <= 20; i++) {
      await Promise.resolve()
      sent.push(c.send(count(i) as never))
    }
    await Promise.all(sent)
    expect(wire.messages).toHaveLength(2)
    expect(wire.frames().map((f) => f.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
  })

  it('splits what a tick holds so that no message exceeds the hello maxFrameBytes', async () => {
    const maxFrameBytes = 400
    const wire = serve({ batch: true, maxFrameBytes })
    const c = client()
    await c.connect()
    const text = 'é'.repeat(30) // two UTF-8 bytes each: the split counts bytes, not characters
    await Promise.all(Array.from({ length: 40 }, (_, i) => c.send({ type: 'chat', text, n: i + 1 } as never)))
    const sizes = wire.messages.map((m) => Buffer.byteLength(m))
    expect(Math.max(...sizes)).toBeLessThanOrEqual(maxFrameBytes)
    expect(wire.messages.filter(isArrayMessage).length).toBeGreaterThan(1)
    // Full arrays: each message but the last could not have taken the next frame.
    const frameBytes = Buffer.byteLength(JSON.stringify({ t: 'msg', d: { type: 'chat', text, n: 10 }, seq: 10 }))
    for (const size of sizes.slice(1, -1)) expect(size + frameBytes + 1).toBeGreaterThan(maxFrameBytes - 2)
    expect(wire.frames().map((f) => f.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
  })

  it('resends what was unacked after a reconnect, still in batches, each frame once per connection', async () => {
    let connections = 0
    const messages: string[] = []
    peer.script.ws = (ws: WsSocket) => {
      const first = ++connections === 1
      ws.send(hello({ batch: true, resumed: !first }))
      ws.on('message', (data) => {
        messages.push(`${connections}:${String(data)}`)
        if (first) return void (messages.length === 2 && ws.terminate()) // the first connection acks nothing and drops
        const seqs = ([JSON.parse(String(data))].flat() as { seq?: number }[]).flatMap((f) => (f.seq === undefined ? [] : [f.seq]))
        if (seqs.length) ws.send(JSON.stringify({ t: 'ack', seq: Math.max(...seqs) }))
      })
    }
    const c = client()
    await c.connect()
    const sent = Array.from({ length: 10 }, (_, i) => c.send(count(i + 1) as never))
    await Promise.all(sent)
    const second = messages.filter((m) => m.startsWith('2:')).flatMap((m) => [JSON.parse(m.slice(2))].flat() as { t: string; seq: number }[]).filter((f) => f.t === 'msg')
    expect(second.map((f) => f.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
    expect(messages.filter((m) => m.startsWith('2:'))).toHaveLength(2) // the first at once, the other nine as one array
    expect(connections).toBe(2)
  })
})

describe('WebSocket writer without hello batch', () => {
  it('writes one frame per message, every frame at once (an old server, the FastAPI example)', async () => {
    const wire = serve({})
    const ws = countingWebSocket()
    const c = client(ws.WebSocket)
    await c.connect()
    const before = ws.sends()
    const sent = Array.from({ length: 20 }, (_, i) => c.send(count(i + 1) as never))
    expect(ws.sends() - before).toBe(20)
    await Promise.all(sent)
    expect(wire.messages.some(isArrayMessage)).toBe(false)
    expect(wire.frames().map((f) => f.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
  })
})

describe.each([{ batch: true }, {}])('serialising once (hello %j)', (extra) => {
  it("serialises a message's data once per send", async () => {
    const wire = serve(extra)
    const c = client()
    await c.connect()
    let calls = 0
    const message = { type: 'count', toJSON: () => (calls++, { type: 'count', n: 7 }) }
    await Promise.all([c.send(message as never), c.send(message as never)])
    expect(calls).toBe(2)
    expect(wire.frames().map((f) => f.d)).toEqual([count(7), count(7)])
  })
})

it('reaches the server under maxFrameBytes even when a lone frame nearly fills it', async () => {
  const maxFrameBytes = 200
  const wire = serve({ batch: true, maxFrameBytes })
  const c = client()
  await c.connect()
  const text = 'x'.repeat(maxFrameBytes - 70)
  await Promise.all([c.send({ type: 'chat', text } as never), c.send({ type: 'chat', text } as never), c.send({ type: 'chat', text } as never)])
  await until(() => wire.frames().length === 3, 15_000, 'three messages')
  for (const m of wire.messages) expect(Buffer.byteLength(m)).toBeLessThanOrEqual(maxFrameBytes)
})

describe('against the reference server (its hello says batch: true)', () => {
  it('bursts of sends in a window of 1,000 arrive once each, in order, all acked, in far fewer messages', async () => {
    const s = await startServer()
    servers.push(s)
    const received: number[] = []
    s.realtime.on('connection', (conn) => conn.on('message', (m) => void (m.type === 'count' && received.push(m.n))))
    const ws = countingWebSocket()
    const c = makeClient(s.url, { transports: ['websocket'], WebSocket: ws.WebSocket })
    await c.connect()
    const before = ws.sends()
    const N = 5_000
    const sent: Promise<void>[] = []
    for (let i = 0; i < N; i++) {
      if (i >= 1_000) await sent[i - 1_000]
      sent.push(c.send({ type: 'count', n: i + 1 }))
    }
    await Promise.all(sent)
    expect(received).toEqual(Array.from({ length: N }, (_, i) => i + 1))
    expect(c.queued).toBe(0)
    expect(ws.sends() - before).toBeLessThan(N / 10)
  })
})
