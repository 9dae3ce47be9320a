/**
 * realtime.drain({ windowMs }) on one process with the default in-memory broker, two in-process
 * instances behind a round-robin balancer: new transports are refused at once, every transport
 * is closed with 1012 within the window, the clients reconnect to the other instance, and the
 * drain resolves. (Sessions do not survive on the memory broker: the moved clients are told
 * `reset: 'session_unknown'`. With Redis they resume: test/cluster.)
 */
import { afterEach, describe, expect, it } from 'vitest'
import net from 'node:net'
import { WebSocket } from 'ws'
import { ConfigError, createFetchHandler, createRealtimeServer, drainDefaults } from '../src/server'
import { drainSchedule } from '../src/server/core/drain'
import { resolveDrainOptions } from '../src/server/options'
import { startBalancer } from './support/balancer'
import { ClientMessage, ServerMessage } from './support/schemas'
import { closeClients, makeClient, startServer, until } from './support/servers'
import { rng } from './reliability/support'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  closeClients()
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

describe('drain options and schedule', () => {
  it('windowMs defaults in one place and is checked', () => {
    expect(resolveDrainOptions()).toEqual({ windowMs: drainDefaults.windowMs })
    expect(resolveDrainOptions({ windowMs: 0 })).toEqual({ windowMs: 0 })
    expect(() => resolveDrainOptions({ windowMs: -1 })).toThrow(ConfigError)
    expect(() => resolveDrainOptions({ windowMs: 1.5 })).toThrow(/windowMs/)
  })

  it('spreads the closes uniformly over the window: no thundering herd', () => {
    const at = drainSchedule(4_000, 10_000, rng(7).next)
    expect(at).toHaveLength(4_000)
    expect(at.every((t) => Number.isInteger(t) && t >= 0 && t < 10_000)).toBe(true)
    const perSecond = Array.from({ length: 10 }, (_, s) => at.filter((t) => Math.floor(t / 1_000) === s).length)
    for (const c of perSecond) expect(c).toBeGreaterThan(300) // ≈ 400 each; none empty, none a herd
    for (const c of perSecond) expect(c).toBeLessThan(500)
    expect(drainSchedule(3, 0)).toEqual([0, 0, 0])
  })
})

describe('drain() with the in-memory broker, two instances behind a balancer', () => {
  it('refuses new transports, closes every transport with 1012 within the window, clients move to the other instance', async () => {
    const [a, b] = await Promise.all([startServer(), startServer()])
    cleanups.push(() => a.close(), () => b.close())
    const lb = await startBalancer([a.port, b.port])
    cleanups.push(() => lb.close())
    const clients = await Promise.all(
      (['websocket', 'websocket', 'websocket', 'websocket', 'sse', 'sse'] as const).map(async (transport) => {
        const c = makeClient(lb.url('/realtime'), { transports: [transport] })
        const resets: string[] = []
        let opens = 0
        c.on('reset', (e) => resets.push(e.reason))
        c.on('status', (e) => e.status === 'open' && opens++)
        await c.connect()
        return { c, resets, opens: () => opens }
      }),
    )
    // And one raw WebSocket straight to A, to read the close code.
    const raw = new WebSocket(`ws://127.0.0.1:${a.port}/realtime?v=1`)
    const closed = new Promise<number>((r) => raw.once('close', (code) => r(code)))
    await new Promise((r) => raw.once('message', r)) // hello
    const onA = a.realtime.connections.length
    expect(onA).toBeGreaterThanOrEqual(2)
    const opensBefore = clients.map((x) => x.opens())

    const draining = a.realtime.drain({ windowMs: 1_000 })
    // At once: A no longer listens (the balancer's next connection goes to B).
    const refused = await new Promise<boolean>((r) => net.connect(a.port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(false) }).once('error', () => r(true)))
    expect(refused).toBe(true)
    await draining
    expect(await closed).toBe(1012)
    expect(a.realtime.connections).toEqual([])
    await until(() => b.realtime.connections.filter((c) => c.transport !== null).length === clients.length, 15_000, 'every client on B').catch((e: Error) => {
      throw new Error(`${e.message}: B has ${b.realtime.connections.map((c) => c.transport).join(', ')}; clients ${clients.map((x) => x.c.status + '/' + x.c.transport).join(', ')}`)
    })
    const moved = clients.filter((x, i) => x.opens() > opensBefore[i]!)
    // A's clients (not the raw socket) reopened on B into new sessions: the memory broker's session died with A.
    // (A client of B that reconnects on a loaded machine resumes its session: no reset.)
    const reset = clients.filter((x) => x.resets.length > 0)
    expect(reset).toHaveLength(onA - 1)
    for (const x of reset) expect(x.resets).toEqual(['session_unknown'])
    expect(moved.length).toBeGreaterThanOrEqual(onA - 1)
  })

  it('a Fetch handler refuses a new SSE stream with 503 while draining; POSTs keep being served', async () => {
    const realtime = createRealtimeServer({ incoming: ClientMessage, outgoing: ServerMessage })
    const handler = createFetchHandler(realtime)
    const draining = realtime.drain({ windowMs: 200 })
    const res = await handler(new Request('http://127.0.0.1/realtime?v=1', { headers: { accept: 'text/event-stream' } }))
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('1')
    expect(await res.json()).toMatchObject([{ t: 'error', code: 'server_error' }])
    const post = await handler(new Request('http://127.0.0.1/realtime?v=1&sid=nope', { method: 'POST', body: '[]', headers: { 'content-type': 'application/json' } }))
    expect(post.status).toBe(404) // served (the session is unknown), not refused
    await draining
  })
})
