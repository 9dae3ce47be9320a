/**
 * The tab-sharing layer (src/client/share) without a browser: several clients in one process
 * stand in for tabs, with Node's own BroadcastChannel and an in-memory Web Locks manager
 * injected through `shareTabs`, against the reference server. The real-browser suite
 * (test/browser/tabs.test.ts) covers crashes, freezing and the HTTP/1.1 connection limit.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { RejectedError, SurewireError } from '../../src'
import { Outbox } from '../../src/client/outbox'
import { shareKey } from '../../src/client/share'
import { Leader } from '../../src/client/share/leader'
import { Tab } from '../../src/client/share/tab'
import type { EngineTap, LockManagerLike } from '../../src/client/share/types'
import { fromWire, toWire } from '../../src/client/share/wire'
import { closeClients, makeClient, startServer, until, waitFor, type TestServer } from '../support/servers'

/** Node's own BroadcastChannel (its event types differ from the DOM's in name only). */
const BroadcastChannel = globalThis.BroadcastChannel as never

/** Web Locks, exclusive mode only: FIFO per name, abortable while queued, released when the callback's promise settles. */
class MemoryLocks implements LockManagerLike {
  readonly #held = new Set<string>()
  readonly #queues = new Map<string, (() => void)[]>()
  request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<void>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const grant = () => {
        this.#held.add(name)
        Promise.resolve()
          .then(() => callback({ name }))
          .then(resolve, reject)
          .finally(() => {
            this.#held.delete(name)
            this.#next(name)
          })
      }
      const q = this.#queues.get(name) ?? []
      this.#queues.set(name, q)
      q.push(grant)
      options.signal?.addEventListener('abort', () => {
        const i = q.indexOf(grant)
        if (i >= 0) q.splice(i, 1), reject(new Error('AbortError'))
      })
      this.#next(name)
    })
  }
  #next(name: string): void {
    if (this.#held.has(name)) return
    this.#queues.get(name)?.shift()?.()
  }
  query() {
    return Promise.resolve({ held: this.names.map((name) => ({ name })) })
  }
  get names(): string[] {
    return [...this.#held]
  }
}

let server: TestServer
afterEach(async () => {
  closeClients()
  await server?.close()
})

function tabs(n: number, locks = new MemoryLocks(), extra: Parameters<typeof makeClient>[1] = {}) {
  return Array.from({ length: n }, () => makeClient(server.url, { shareTabs: { locks, BroadcastChannel }, ...extra }))
}

describe('tabs sharing one connection (Node stand-ins)', () => {
  it('one session for every tab; sends resolve in the tab that sent them; status is mirrored', async () => {
    server = await startServer()
    const got: string[] = []
    server.realtime.on('connection', (c) => c.on('message', (m) => m.type === 'echo' && got.push(m.text)))
    const all = tabs(3)
    await Promise.all(all.map((c) => c.connect()))
    for (const c of all) expect(c.getSnapshot()).toMatchObject({ status: 'open', transport: 'websocket' })
    expect(server.realtime.connections).toHaveLength(1)
    await Promise.all(all.flatMap((c, i) => [0, 1, 2].map((k) => c.send({ type: 'echo', text: `${i}-${k}` }))))
    expect(got.sort()).toEqual(['0-0', '0-1', '0-2', '1-0', '1-1', '1-2', '2-0', '2-1', '2-2'])
    for (const c of all) expect(c.queued).toBe(0)
  })

  it('a nack rejects in the sending tab only, as a RejectedError', async () => {
    server = await startServer({ authorizeSubscribe: (_c, t) => t !== 'secret' })
    const [a, b] = tabs(2)
    await Promise.all([a!.connect(), b!.connect()])
    const refused = a!.subscribe('secret')
    await expect(refused).rejects.toBeInstanceOf(RejectedError)
    await expect(b!.subscribe('fine')).resolves.toBeUndefined()
  })

  it('topics: the server holds the union; each tab gets only its own topics plus messages to the session', async () => {
    server = await startServer()
    const [a, b] = tabs(2)
    await Promise.all([a!.connect(), b!.connect(), a!.subscribe('x'), b!.subscribe('y')])
    const conn = server.realtime.connections[0]!
    expect([...conn.topics].sort()).toEqual(['x', 'y'])
    const seen = { a: [] as number[], b: [] as number[] }
    a!.on('message', (m) => m.type === 'tick' && seen.a.push(m.n))
    b!.on('message', (m) => m.type === 'tick' && seen.b.push(m.n))
    void server.realtime.publish('x', { type: 'tick', n: 1 })
    void server.realtime.publish('y', { type: 'tick', n: 2 })
    void server.realtime.broadcast({ type: 'tick', n: 3 })
    await until(() => seen.a.length === 2 && seen.b.length === 2, 5_000, 'the messages')
    expect(seen).toEqual({ a: [1, 3], b: [2, 3] })
    await a!.unsubscribe('x')
    await until(() => !conn.topics.has('x'), 5_000, 'x dropped')
    await b!.unsubscribe('y')
    expect(conn.topics.size).toBe(0)
  })

  it("the leader's close() hands the session to the next tab; the last close() ends it", async () => {
    server = await startServer()
    const [a, b, c] = tabs(3)
    await Promise.all([a!.connect(), b!.connect(), c!.connect()])
    const sid = server.realtime.connections[0]!.id
    a!.close() // the leader: it asked for the lock first
    expect(a!.status).toBe('closed')
    await b!.send({ type: 'echo', text: 'after handoff' })
    expect(server.realtime.connections.map((x) => x.id)).toEqual([sid])
    b!.close()
    await c!.send({ type: 'echo', text: 'c leads now' })
    const ended = waitFor<{ reason: string }>((fn) => server.realtime.connections[0]!.on('close', fn))
    c!.close()
    expect((await ended).reason).toBe('client_closed')
  })

  it('the last tab closing with sends in flight: they reject client_closed at once, none hangs, and the session ends', async () => {
    server = await startServer()
    const [a] = tabs(1)
    await a!.connect()
    const conn = server.realtime.connections[0]!
    const ended = waitFor<{ reason: string }>((fn) => conn.on('close', fn))
    const sends = [1, 2, 3].map((i) => a!.send({ type: 'echo', text: `last-${i}` }).then(() => 'ok', (e: SurewireError) => e.code))
    a!.close()
    expect(await Promise.all(sends)).toEqual(['client_closed', 'client_closed', 'client_closed'])
    expect((await ended).reason).toBe('client_closed')
  })

  it('different tokens never share a session; the same `key` does', async () => {
    server = await startServer()
    const locks = new MemoryLocks()
    const [a] = tabs(1, locks, { token: () => 'alice' })
    const [b] = tabs(1, locks, { token: () => 'bob' })
    await Promise.all([a!.connect(), b!.connect()])
    expect(server.realtime.connections).toHaveLength(2)
    const [c, d] = [0, 1].map((i) => makeClient(server.url, { token: () => `jwt-${i}`, shareTabs: { locks, BroadcastChannel, key: 'user-7' } }))
    await Promise.all([c!.connect(), d!.connect()])
    expect(server.realtime.connections).toHaveLength(3)
  })

  it('shareTabs: false, and Node without injected APIs: a connection per client, as before', async () => {
    server = await startServer()
    const clients = [makeClient(server.url, { shareTabs: false }), makeClient(server.url)]
    await Promise.all(clients.map((c) => c.connect()))
    expect(server.realtime.connections).toHaveLength(2)
  })
})

describe('share layer pieces', () => {
  it('the share key covers endpoints, transports and identity', async () => {
    const base = { url: 'http://x/realtime' } as Parameters<typeof shareKey>[0]
    const ep = { websocket: 'ws://x/realtime', sse: 'http://x/realtime', post: 'http://x/realtime' }
    const k = (o: object) => shareKey({ ...base, ...o } as typeof base, ep)
    expect(await k({ token: () => 'a' })).not.toBe(await k({ token: () => 'b' }))
    expect(await k({ token: () => 'a' })).toBe(await k({ token: async () => 'a' }))
    expect(await k({ token: () => 'a', shareTabs: { key: 'u1' } })).toBe(await k({ token: () => 'b', shareTabs: { key: 'u1' } }))
    expect(await k({ transports: ['sse'] })).not.toBe(await k({}))
    expect(await shareKey(base, { ...ep, sse: 'http://x/other' })).not.toBe(await k({}))
    expect(await k({ token: () => 'secret-token' })).not.toContain('secret-token')
  })

  it('errors cross the channel with their class and fields', () => {
    const e = fromWire(structuredClone(toWire(new RejectedError('forbidden', 'no'))))
    expect(e).toBeInstanceOf(RejectedError)
    expect(e).toMatchObject({ code: 'rejected', serverCode: 'forbidden', message: 'server rejected the message (forbidden): no' })
    expect(fromWire(toWire(new SurewireError('too_large', 'big')))).toMatchObject({ code: 'too_large', message: 'big' })
  })

  it('outbox: a taken-over session continues the numbering; earlier numbers are sorted in', async () => {
    const o = new Outbox(10, 1_000)
    o.continueAt(8)
    const done: number[] = []
    void o.push({ t: 'msg', d: 'new' }, 1).then(() => done.push(8))
    void o.push({ t: 'msg', d: 'old' }, 1, 5).then(() => done.push(5))
    expect(o.takeUnsent().map((f) => f.seq)).toEqual([5, 8])
    expect(o.nextSeq).toBe(9)
    o.ack(8)
    await Promise.resolve()
    expect(done).toEqual([5, 8])
  })

  it('leader: a frame reaches the outbox only after a marker posted after its number came back', () => {
    // The marker proves the posts before it left this tab (channel order is per sender). A frame
    // numbered while a marker is on its way must wait for the next marker: released with the
    // earlier batch, a crash could put it on the wire with its number known to no other tab.
    const posted: { t: string; s?: number }[] = []
    const markers: (() => void)[] = []
    const host = { epoch: 7, post: (m: { t: string }) => posted.push(m), ended() {}, delivered: (fn: () => void) => markers.push(fn) }
    const engine = { status: 'idle', on() {}, connect: async () => {}, close() {} }
    const leader = new Leader(host, { lastId: 0, frames: new Map() }, () => engine)
    const wire = () => leader.outbox.takeUnsent().map((f) => f.seq)
    leader.onTab({ t: 'f', p: 'A', e: 7, f: [{ l: 1, x: { t: 'msg', d: 'a1' } }] })
    expect(markers).toHaveLength(1)
    leader.onTab({ t: 'f', p: 'B', e: 7, f: [{ l: 1, x: { t: 'msg', d: 'b1' } }, { l: 2, x: { t: 'msg', d: 'b2' } }] })
    expect(posted.filter((m) => m.t === 's').map((m) => m.s)).toEqual([1, 2, 3])
    expect(wire()).toEqual([]) // nothing before its number left the tab
    markers[0]!() // covers seq 1 only
    expect(wire()).toEqual([1])
    expect(markers).toHaveLength(2) // a new marker for 2 and 3
    markers[1]!()
    expect(wire()).toEqual([2, 3])
    expect(markers).toHaveLength(2)
  })

  it('leader taking over: new frames are numbered only after the hello, past its seq and every number heard of', () => {
    const posted: { t: string; s?: number; l?: number }[] = []
    const host = { epoch: 9, post: (m: { t: string }) => posted.push(m), ended() {}, delivered: (fn: () => void) => fn() }
    const engine = { status: 'idle', on() {}, connect: async () => {}, close() {} }
    let tap: EngineTap | undefined
    const frames = new Map([[4, { p: 'A', l: 3, x: { t: 'msg' as const, d: 'a3' } }]])
    const leader = new Leader(host, { sid: 's1', lastId: 0, frames }, (t) => ((tap = t), engine))
    leader.onTab({ t: 'f', p: 'B', e: 9, f: [{ l: 1, x: { t: 'msg', d: 'b1' } }] })
    leader.adopt(6, { p: 'A', l: 4, x: { t: 'msg', d: 'a4' } }) // the dead leader's number, heard late
    expect(posted.filter((m) => m.t === 's')).toEqual([]) // not numbered yet: more such numbers may come
    tap!.hello({ t: 'hello', sid: 's1', resumed: true, seq: 5, hb: 0, maxFrameBytes: 0 } as never)
    expect(posted.filter((m) => m.t === 's').map((m) => [m.l, m.s])).toEqual([[1, 7]])
    expect(leader.outbox.takeUnsent().map((f) => f.seq)).toEqual([4, 6, 7])
  })

  it('a leader that resigns with frames held puts none of them on its wire; the next leader sends them under their numbers', async () => {
    // Held frames wait for proof that their numbers left this tab. Resigning used to release them
    // into this tab's outbox at once, one flush from the wire, while those numbers could still be
    // inside this tab: a crash then, and the next leader would send them under new numbers.
    const locks = new MemoryLocks()
    const taps: EngineTap[] = []
    const engine = { status: 'idle', on() {}, connect: async () => {}, close() {} }
    const key = 'k' + Math.random()
    const tab = () => new Tab(locks, BroadcastChannel, async () => key, () => [], (t) => (taps.push(t), engine))
    const [a, b] = [tab(), tab()]
    a.connect()
    await until(() => taps.length === 1, 5_000, 'a leads')
    b.connect()
    await until(() => locks.names.length === 3, 5_000, 'b is in the group') // the leader lock and two tab locks
    a.send([1, 2, 3].map((seq) => ({ t: 'msg', seq, d: `a${seq}` })))
    a.close() // before the marker came back: the three are numbered and held
    expect(taps[0]!.outbox.size).toBe(0)
    await until(() => taps.length === 2 && taps[1]!.outbox.size === 3, 5_000, 'b leads with the three frames')
    expect(taps[1]!.outbox.takeUnsent().map((f) => [f.seq, (f as { d?: unknown }).d])).toEqual([[1, 'a1'], [2, 'a2'], [3, 'a3']])
    b.close()
  })
})
