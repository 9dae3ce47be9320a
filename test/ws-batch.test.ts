/**
 * Contract B1 (server side) and the inbound loop of issue #14: a WebSocket message may be a JSON
 * array of client frames (announced by `hello.batch`), checked like a POST body and processed as
 * one batch; acks are cumulative and coalesced per tick; a synchronous handler is processed
 * synchronously, and only a pending promise defers the session's later frames (in order, never
 * concurrently).
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Duplex } from 'node:stream'
import type { ClientMessage } from './support/schemas'
import type { ServerFrame } from '../src/protocol'
import { matching, wsPeer } from './support/peer'
import { startServer, until } from './support/servers'
import { coreOf } from '../src/server/core/core'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function serve(handler?: (m: ClientMessage) => unknown) {
  const srv = await startServer()
  cleanups.push(() => srv.close())
  const received: ClientMessage[] = []
  srv.realtime.on('connection', (c) => {
    c.on('message', (m) => {
      received.push(m)
      return handler?.(m)
    })
  })
  const ready = async () => {
    const p = wsPeer(srv.url)
    return { ...p, hello: await p.wait('hello') }
  }
  return { srv, received, ready }
}

const count = (seq: number, n = seq) => ({ t: 'msg', seq, d: { type: 'count', n } })
const acksOf = (frames: ServerFrame[]) => matching(frames, 'ack').map((f) => f.seq)

describe('WebSocket array messages (contract B1)', () => {
  it('hello announces batch: true; an array is processed in order as one batch with one cumulative ack', async () => {
    const s = await serve()
    const p = await s.ready()
    expect(p.hello.batch).toBe(true)
    p.send([count(1), count(2), count(3)])
    await p.wait('ack', (f) => f.seq === 3)
    expect(s.received).toEqual([1, 2, 3].map((n) => ({ type: 'count', n })))
    expect(acksOf(p.frames)).toEqual([3])
    p.send(count(4)) // a single object stays valid
    await p.wait('ack', (f) => f.seq === 4)
    expect(s.received).toHaveLength(4)
  })

  it('one bad element makes the whole message a bad frame: nothing in it is processed', async () => {
    const s = await serve()
    const p = await s.ready()
    p.send([count(1), { t: 'msg', seq: 2 }, count(3)]) // seq 2 lacks `d`
    expect(await p.wait('error')).toMatchObject({ t: 'error', code: 'bad_frame' })
    p.send([count(1), { t: 'teleport' }])
    await p.wait('error', undefined, 2)
    expect(s.received).toEqual([])
    expect(acksOf(p.frames)).toEqual([])
    p.send([count(1)]) // nothing was consumed: seq 1 is still the next one
    await p.wait('ack', (f) => f.seq === 1)
    expect(s.received).toEqual([{ type: 'count', n: 1 }])
    p.send([]) // an empty array is valid and answered with nothing
    p.send({ t: 'ping', n: 1 })
    await p.wait('pong')
    expect(matching(p.frames, 'error')).toHaveLength(2)
  })

  it('replies keep the POST order rules: a pending ack before a nack or pong', async () => {
    const s = await serve()
    const p = await s.ready()
    p.send([count(1), { t: 'msg', seq: 2, d: { type: 'nope' } }, count(3), { t: 'ping', n: 9 }, count(4)])
    await p.wait('ack', (f) => f.seq === 4)
    const replies = p.frames.filter((f) => f.t !== 'hello').map((f) => (f.t === 'nack' ? { t: f.t, seq: f.seq, code: f.code } : f))
    expect(replies).toEqual([
      { t: 'ack', seq: 1 },
      { t: 'nack', seq: 2, code: 'invalid_message' },
      { t: 'ack', seq: 3 },
      { t: 'pong', n: 9 },
      { t: 'ack', seq: 4 },
    ])
  })

  it('acks of the messages that arrive in one tick are coalesced into one', async () => {
    const s = await serve()
    const p = await s.ready()
    // Corked: the 50 messages reach the server in one TCP segment, so one read, one tick.
    const socket = (p.ws as unknown as { _socket: Duplex })._socket
    socket.cork()
    for (let seq = 1; seq <= 50; seq++) p.send(count(seq))
    socket.uncork()
    await p.wait('ack', (f) => f.seq === 50)
    expect(s.received).toHaveLength(50)
    const acks = acksOf(p.frames)
    expect(acks.length).toBeLessThan(10) // one per read (one here); never one per message
    expect(acks).toEqual([...acks].sort((a, b) => a - b))
  })
})

describe('the inbound loop: synchronous unless a handler is async', () => {
  it('a synchronous handler is processed before process() returns; replies are released at the end of the batch', async () => {
    const s = await serve()
    const p = await s.ready()
    const session = [...coreOf(s.srv.realtime).sessions.sessions.values()][0]!
    const replies: ServerFrame[] = []
    const pending = session.process([count(1) as never, count(2) as never, { t: 'ping' }], (f) => replies.push(f))
    expect(pending).toBeUndefined()
    expect(s.received).toHaveLength(2)
    expect(replies).toEqual([{ t: 'ack', seq: 2 }, { t: 'pong' }])
    p.ws.terminate()
  })

  it('a pending promise defers the later frames and batches of that session, in order, never concurrently', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let running = 0
    let overlapped = false
    const s = await serve((m) => {
      if (m.type !== 'count') return
      running++
      if (running > 1) overlapped = true
      if (m.n === 2) return gate.then(() => void running--)
      running--
    })
    const p = await s.ready()
    p.send([count(1), count(2), count(3)])
    p.send(count(4))
    await until(() => s.received.length >= 2)
    expect(s.received.map((m) => m.type === 'count' && m.n)).toEqual([1, 2]) // 3 and the next message wait for 2's promise
    expect(acksOf(p.frames)).toEqual([]) // the batch's replies are released when the whole batch is done
    release()
    await p.wait('ack', (f) => f.seq === 4)
    expect(s.received.map((m) => m.type === 'count' && m.n)).toEqual([1, 2, 3, 4])
    expect(overlapped).toBe(false)
    expect(Math.max(...acksOf(p.frames))).toBe(4)
  })
})
