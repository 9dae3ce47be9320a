/**
 * The client's state machine under unlucky and hostile conditions (issues #12 items 9–14, #13 client
 * parts), against real servers on 127.0.0.1: the reference server, the test proxy, or a scripted peer
 * (client-peer.ts). Every test waits for events; where time matters it compares against bounds.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WebSocket } from 'ws'
import { AuthError, ConfigError, RealtimeClient, ServerRefusalError, SurewireError, type StatusEvent, type TransportKind, type WebSocketConstructor } from '../../src'
import { startProxy, type TestProxy } from '../support/proxy'
import { ClientMessage, ServerMessage } from '../support/schemas'
import { TestWebSocket, closeClients, makeClient, startServer, until, waitFor, type TestServer } from '../support/servers'
import { helloFrame, jsonReply, sseEvent, sseHello, startPeer, type Peer } from './client-peer'

type Client = ReturnType<typeof makeClient>
const cleanups: (() => unknown)[] = []
afterEach(async () => {
  vi.useRealTimers()
  vi.restoreAllMocks()
  closeClients()
  for (const fn of cleanups.splice(0).reverse()) await fn()
})
async function server(opts: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer(opts)
  cleanups.push(() => s.close())
  return s
}
async function proxy(s: TestServer, opts: Partial<Parameters<typeof startProxy>[0]> = {}): Promise<TestProxy> {
  const p = await startProxy({ targetPort: s.port, ...opts })
  cleanups.push(() => p.close())
  return p
}
async function peer(script: Parameters<typeof startPeer>[0]): Promise<Peer> {
  const p = await startPeer(script)
  cleanups.push(() => p.close())
  return p
}
const statusOf = (c: Client) => (fn: (e: StatusEvent) => void) => c.on('status', fn)
const errorsOf = (c: Client) => {
  const errors: Error[] = []
  c.on('error', (e) => void errors.push(e))
  return errors
}
const statuses = (c: Client) => {
  const events: StatusEvent[] = []
  c.on('status', (e) => void events.push(e))
  return events
}
const both: TransportKind[] = ['websocket', 'sse']

/** Node's TimeoutOverflowWarning: a delay above 2^31 − 1 ms that setTimeout turned into 1 ms. */
function overflowWarnings() {
  const seen: string[] = []
  const on = (w: Error) => void (w.name === 'TimeoutOverflowWarning' && seen.push(w.message))
  process.on('warning', on)
  cleanups.push(() => process.off('warning', on))
  return seen
}

// ---------------------------------------------------------------- #12 item 9: the token phase

describe('a token provider that never settles', () => {
  it.each(both)('is a failed attempt under connectTimeoutMs: reported on `error`, retried, and the next token connects (%s)', async (transport) => {
    const s = await server()
    // The client's timers run on the test's clock, the sockets stay real: connectTimeoutMs also bounds
    // the second (good) attempt, and a loaded machine must not be able to time that one out too.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    let calls = 0
    const c = makeClient(s.url, { transports: [transport], connectTimeoutMs: 300, token: () => (++calls === 1 ? new Promise<string>(() => {}) : 'tok') })
    const errors = errorsOf(c)
    const events = statuses(c)
    const reasons = () => events.map((e) => `${e.status}:${e.reason}`)
    const connected = c.connect()
    await vi.advanceTimersByTimeAsync(299)
    expect(reasons()).toEqual(['connecting:connect_called'])
    await vi.advanceTimersByTimeAsync(1)
    expect(reasons()).toEqual(['connecting:connect_called', 'reconnecting:token_timeout'])
    // Only up to the retry (backoff 0): the clock then stands still while the real socket opens.
    for (let step = 0; !events.some((e) => e.reason === 'retry'); step++) {
      if (step === 100) throw new Error(`no retry after 100 timers: ${reasons().join(' ')}`)
      await vi.advanceTimersToNextTimerAsync()
    }
    await connected
    expect(reasons()).toEqual(['connecting:connect_called', 'reconnecting:token_timeout', 'connecting:retry', 'open:opened'])
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ code: 'auth_failed' })
    expect(errors[0]!.message).toMatch(/did not settle within connectTimeoutMs=300/)
    expect(calls).toBe(2)
  })

  it('on the background probe only delays the next probe: SSE keeps delivering', async () => {
    const s = await server()
    const p = await proxy(s, { mode: 'refuse' })
    let calls = 0
    const c = makeClient(p.url('/realtime'), { connectTimeoutMs: 1_000, wsProbeIntervalMs: 50, token: () => (++calls >= 2 && calls <= 3 ? new Promise<string>(() => {}) : 'tok') })
    await c.connect()
    expect(c.transport).toBe('sse')
    p.mode = 'pass'
    const restored = await waitFor(statusOf(c), (e) => e.reason === 'ws_restored', 15_000, 'the probe after two hanging tokens')
    expect(restored.transport).toBe('websocket')
    // connect, two probes whose token never came, then the probe that worked (a later one if a loaded machine made one miss the timeout)
    expect(calls).toBeGreaterThanOrEqual(4)
  })
})

// ---------------------------------------------------------------- #12 item 11: time values in range

describe('time options and server values out of setTimeout’s range', () => {
  it('rejects a negative or NaN time option with a ConfigError naming the range', () => {
    const make = (o: object) => () => new RealtimeClient({ url: 'http://127.0.0.1:1/rt', incoming: ServerMessage, outgoing: ClientMessage, ...o })
    expect(make({ connectTimeoutMs: -1 })).toThrow(ConfigError)
    expect(make({ pongTimeoutMs: NaN })).toThrow(/`pongTimeoutMs` must be a number of milliseconds in \[1, Infinity\]/)
  })

  it.each(both)('connectTimeoutMs: Infinity connects (it means never, not 1 ms) (%s)', async (transport) => {
    const warnings = overflowWarnings()
    const s = await server()
    const c = makeClient(s.url, { transports: [transport], connectTimeoutMs: Infinity })
    const events = statuses(c)
    await c.connect()
    expect(events.map((e) => e.reason)).toEqual(['connect_called', 'opened'])
    expect(warnings).toEqual([])
  })

  it('pongTimeoutMs: Infinity never reconnects on a ping', async () => {
    const warnings = overflowWarnings()
    const s = await server()
    const counter = { pings: 0 }
    const Base = TestWebSocket as unknown as new (url: string) => { send(data: string): void }
    class Counting extends Base {
      override send(data: string): void {
        if (data.includes('"t":"ping"')) counter.pings++
        super.send(data)
      }
    }
    const c = makeClient(s.url, { transports: ['websocket'], WebSocket: Counting as unknown as WebSocketConstructor, pingIntervalMs: 20, pongTimeoutMs: Infinity })
    await c.connect()
    const events = statuses(c)
    await until(() => counter.pings >= 10, 15_000, '10 pings')
    expect(events).toEqual([])
    expect(warnings).toEqual([])
  })

  it('a hello with hb = 2^31 does not make the SSE silence timer fire every millisecond', async () => {
    const warnings = overflowWarnings()
    let timer: ReturnType<typeof setInterval> | undefined
    const pe = await peer({
      sse: (res) => {
        sseHello(res, { hb: 2 ** 31 })
        let id = 0
        timer = setInterval(() => sseEvent(res, { t: 'msg', id: ++id, d: { type: 'tick', n: id } }), 10)
        res.on('close', () => clearInterval(timer))
      },
    })
    cleanups.push(() => clearInterval(timer))
    const armed = vi.spyOn(globalThis, 'setTimeout')
    const c = makeClient(pe.url, { transports: ['sse'] })
    const thirty = waitFor<{ n: number }>((fn) => c.onMessage('tick', fn), (m) => m.n >= 30, 15_000, '30 messages')
    await c.connect()
    await thirty
    expect(warnings).toEqual([])
    expect(c.status).toBe('open')
    // Before: 2.5 × 2^31 ms went to setTimeout as is (an overflow: 1 ms) and re-armed about once a millisecond.
    expect(armed.mock.calls.filter(([, ms]) => typeof ms === 'number' && ms > 2 ** 31 - 1)).toEqual([])
  })
})

// ---------------------------------------------------------------- #12 item 12: the monotonic clock

describe('dead-stream detection on the monotonic clock', () => {
  it.each(both)('notices a dead stream on time although the wall clock was set back an hour as it died (%s)', async (transport) => {
    const s = await server({ heartbeatIntervalMs: 100 })
    const p = await proxy(s)
    const c = makeClient(p.url('/realtime'), { transports: [transport], pingIntervalMs: 100, pongTimeoutMs: 300 })
    await c.connect()
    const lost = waitFor(statusOf(c), (e) => e.status === 'reconnecting', 10_000, 'the dead stream to be noticed')
    vi.useFakeTimers({ toFake: ['Date'] }) // only the wall clock: real timers, real sockets
    vi.setSystemTime(Date.now() - 3_600_000)
    p.stallAll()
    expect((await lost).reason).toBe(transport === 'websocket' ? 'pong_timeout' : 'sse_silent')
  })
})

// ---------------------------------------------------------------- #12 item 13: maxAttempts

describe('maxAttempts counts failed attempts in a row, not the drop', () => {
  it.each(both)('maxAttempts: 1 still makes one reconnect attempt after a healthy connection drops (%s)', async (transport) => {
    const s = await server()
    const p = await proxy(s)
    const c = makeClient(p.url('/realtime'), { transports: [transport], maxAttempts: 1 })
    await c.connect()
    const back = waitFor(statusOf(c), (e) => e.status === 'open' || e.status === 'closed', 15_000, 'open again')
    p.dropAll()
    expect(await back).toMatchObject({ status: 'open' })
  })

  it.each(both)('maxAttempts: 2 makes exactly two reconnect attempts when the server is gone (%s)', async (transport) => {
    const s = await startServer()
    const c = makeClient(s.url, { transports: [transport], maxAttempts: 2 })
    await c.connect()
    const events = statuses(c)
    const closed = waitFor(statusOf(c), (e) => e.status === 'closed', 15_000, 'gave up')
    await s.close()
    expect((await closed).reason).toBe('gave_up')
    expect(events.filter((e) => e.status === 'connecting').length).toBe(2)
  })
})

// ---------------------------------------------------------------- #12 item 14 + contract C2: fatal refusals

describe('fatal: true and the protocol’s refusals', () => {
  it.each(both)('an error frame with fatal: true stops: status closed, a ServerRefusalError with the server code, no retry (%s)', async (transport) => {
    const fatal = { t: 'error', code: 'server_error', message: 'maintenance: do not come back', fatal: true }
    const pe = await peer({
      ws: (ws) => {
        ws.send(helloFrame())
        setTimeout(() => (ws.send(JSON.stringify(fatal)), ws.close(1011, 'fatal')), 20)
      },
      sse: (res) => {
        sseHello(res)
        setTimeout(() => (sseEvent(res, fatal), res.end()), 20)
      },
    })
    const c = makeClient(pe.url, { transports: [transport] })
    const errors = errorsOf(c)
    await c.connect()
    const closed = await waitFor(statusOf(c), (e) => e.status === 'closed', 15_000, 'closed')
    expect(closed.reason).toBe('fatal_error')
    expect(closed.error).toBeInstanceOf(ServerRefusalError)
    expect(closed.error).toMatchObject({ code: 'server_refused', serverCode: 'server_error', fatal: true })
    expect(errors.filter((e) => e instanceof ServerRefusalError)).toHaveLength(1)
    expect(pe.requests.filter((r) => r.kind !== 'post')).toHaveLength(1)
    await expect(c.send({ type: 'count', n: 1 })).rejects.toMatchObject({ code: 'client_closed' })
  })

  it('origin_not_allowed on the WebSocket (error frame, close 4403) stops at once and says what to fix', async () => {
    const pe = await peer({
      ws: (ws) => {
        ws.send(JSON.stringify({ t: 'error', code: 'origin_not_allowed', message: 'Origin http://a:8080 does not match Host a', fatal: true }))
        ws.close(4403, 'origin not allowed')
      },
      sse: (res) => sseHello(res),
    })
    const c = makeClient(pe.url, { sseHeadStartMs: 60_000 })
    const err = await c.connect().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ServerRefusalError)
    expect(err).toMatchObject({ serverCode: 'origin_not_allowed' })
    expect((err as Error).message).toMatch(/does not match Host a.*trustForwardedHost/)
    expect(c.getSnapshot()).toMatchObject({ status: 'closed', reason: 'fatal_error' })
    expect(pe.requests.map((r) => r.kind)).toEqual(['ws'])
  })

  it('a POST answered 403 origin_not_allowed stops and rejects the send, with no loop', async () => {
    const pe = await peer({
      sse: (res) => sseHello(res),
      post: (_b, res) => jsonReply(res, 403, [{ t: 'error', code: 'origin_not_allowed', message: 'Origin http://x does not match Host y', fatal: true }]),
    })
    const c = makeClient(pe.url, { transports: ['sse'] })
    await c.connect()
    const err = await c.send({ type: 'count', n: 1 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ServerRefusalError)
    expect(c.getSnapshot()).toMatchObject({ status: 'closed', reason: 'fatal_error' })
    expect(pe.requests.map((r) => r.kind)).toEqual(['sse', 'post'])
  })

  it('a close 4403 alone (no error frame) stops too, and is not an auth failure', async () => {
    const pe = await peer({ ws: (ws) => ws.close(4403, 'forbidden') })
    const c = makeClient(pe.url, { transports: ['websocket'] })
    const err = await c.connect().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ServerRefusalError)
    expect(err).not.toBeInstanceOf(AuthError)
    expect(pe.requests).toHaveLength(1)
  })
})

// ---------------------------------------------------------------- #12 item 10 + contract C3: the probe costs no gap

describe('the background probe never costs a gap in delivery', () => {
  it.each(['blackhole', 'mute'] as const)('behind a proxy that passes the upgrade but no frames (%s), SSE keeps delivering, every message once', async (mode) => {
    const s = await server()
    const p = await proxy(s, { mode: 'refuse' })
    let sent = 0
    let tick: ReturnType<typeof setInterval> | undefined
    cleanups.push(() => clearInterval(tick))
    s.realtime.on('connection', (conn) => void (tick ??= setInterval(() => conn.send({ type: 'tick', n: ++sent }), 10)))
    const connectTimeoutMs = 5_000
    const c = makeClient(p.url('/realtime'), { wsProbeIntervalMs: 100, connectTimeoutMs })
    const ticks: number[] = []
    const at: number[] = []
    c.onMessage('tick', (m) => void (ticks.push(m.n), at.push(performance.now())))
    await c.connect()
    expect(c.transport).toBe('sse')
    await until(() => ticks.length >= 10, 15_000, 'ticks on SSE')
    const from = at.length
    const upgrades = p.stats.upgrades
    p.mode = mode
    await until(() => p.stats.upgrades >= upgrades + 2 && at.length > from + 20, 30_000, 'two probes through the mute path')
    const gaps = at.slice(from).map((t, i) => t - at[from + i - 1]!)
    const maxGap = Math.max(...gaps)
    console.log(`probe through a ${mode} path: longest delivery gap ${maxGap.toFixed(0)} ms (connectTimeoutMs ${connectTimeoutMs}), ${c.stats.duplicates} duplicates dropped`)
    expect(maxGap).toBeLessThan(connectTimeoutMs / 3)
    clearInterval(tick)
    const last = sent
    await until(() => ticks.includes(last), 15_000, `tick ${last}`)
    expect(ticks).toEqual(Array.from({ length: last }, (_, i) => i + 1))
    expect(c.transport).toBe('sse')
  })
})

// ---------------------------------------------------------------- #13 + C2 against the reference server

describe('a Host-rewriting proxy in front of the reference server (the page’s Origin does not match Host)', () => {
  const ORIGIN = 'http://app.example:8080'
  /** `ws` sending the page's Origin, as a browser does. */
  class PageWebSocket extends WebSocket {
    constructor(url: string) {
      super(url, { origin: ORIGIN })
    }
  }
  /** fetch as a browser does it: a same-origin GET carries no Origin, a POST does. */
  const pageFetch = (seen: string[]) => (input: string, init: RequestInit) => {
    seen.push(init.method ?? 'GET')
    return fetch(input, init.method === 'POST' ? { ...init, headers: { ...(init.headers as Record<string, string>), Origin: ORIGIN } } : init)
  }

  it.each(both)('stops at once with origin_not_allowed and the fix in the message, no loop (%s)', async (transport) => {
    const s = await server()
    const requests: string[] = []
    s.http.on('request', (req) => void requests.push(req.method ?? ''))
    s.http.on('upgrade', () => void requests.push('UPGRADE'))
    const fetched: string[] = []
    const c = makeClient(s.url, { transports: [transport], WebSocket: PageWebSocket as unknown as WebSocketConstructor, fetch: pageFetch(fetched) })
    const closed = waitFor(statusOf(c), (e) => e.status === 'closed', 15_000, 'closed')
    const connected = c.connect().catch((e: unknown) => e)
    if (transport === 'sse') {
      await connected // the GET carries no Origin: it opens
      void c.send({ type: 'count', n: 1 }).catch(() => {})
    }
    const e = await closed
    expect(e.reason).toBe('fatal_error')
    expect(e.error).toMatchObject({ code: 'server_refused', serverCode: 'origin_not_allowed', fatal: true })
    expect(e.error!.message).toMatch(/does not match Host/)
    expect(e.error!.message).toMatch(/trustForwardedHost/)
    expect(requests).toEqual(transport === 'websocket' ? ['UPGRADE'] : ['GET', 'POST'])
  })
})

// ---------------------------------------------------------------- #13: fallback on an upgrade status

describe('an HTTP status on the WebSocket upgrade', () => {
  it.each([403, 400, 426] as const)('%s on the upgrade is a refused upgrade: the client falls back to SSE, never auth_failed', async (status) => {
    const s = await server()
    const p = await proxy(s, { mode: 'refuse', refuseStatus: status })
    const c = makeClient(p.url('/realtime'))
    const open = waitFor(statusOf(c), (e) => e.status === 'open' || e.status === 'closed', 15_000, 'open')
    await c.connect()
    expect(await open).toMatchObject({ status: 'open', transport: 'sse', reason: 'ws_refused' })
  })

  it('a 401 on the upgrade falls back as well; a 401 on the SSE GET is the auth failure', async () => {
    const pe = await peer({ upgradeStatus: 401, sse: (res) => jsonReply(res, 401, [{ t: 'error', code: 'unauthorized', message: 'no token', fatal: true }]) })
    const c = makeClient(pe.url, { token: () => 'expired' })
    const events = statuses(c)
    const err = await c.connect().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AuthError)
    expect(events.map((e) => e.reason)).toContain('auth_retry')
    expect(pe.requests.filter((r) => r.kind === 'sse')).toHaveLength(2) // one refresh-and-retry
  })
})

// ---------------------------------------------------------------- #13: no storms

describe('retries that cannot storm', () => {
  /** Deterministic backoff so the schedule can be checked: 25, 50, 100, 200, 400, 400, … ms. */
  const schedule = (n: number) => Math.min(400, 25 * 2 ** (n - 1))

  it('every POST refused 403 (protocol body, not fatal) while SSE works: reconnects follow the backoff schedule', async () => {
    const pe = await peer({
      sse: (res) => sseHello(res),
      post: (_b, res) => jsonReply(res, 403, [{ t: 'error', code: 'forbidden', message: 'origin not allowed' }]),
    })
    const c = makeClient(pe.url, { transports: ['sse'], backoff: schedule })
    const errors = errorsOf(c)
    const events = statuses(c)
    await c.connect()
    void c.send({ type: 'count', n: 1 }).catch(() => {})
    const N = 7
    await until(() => events.filter((e) => e.status === 'reconnecting').length >= N, 20_000, `${N} reconnects`)
    const waits = events.filter((e) => e.status === 'reconnecting').slice(0, N)
    // The attempt counter is not reset by each new hello: every loop backs off further.
    expect(waits.map((e) => e.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(waits.map((e) => e.delayMs)).toEqual([25, 50, 100, 200, 400, 400, 400])
    expect(waits.every((e) => e.reason === 'post_failed')).toBe(true)
    expect(waits[0]!.detail).toMatch(/HTTP 403 forbidden: origin not allowed/)
    // The refusal surfaces on `error` with the server's code and message.
    const refusals = errors.filter((e): e is ServerRefusalError => e instanceof ServerRefusalError)
    expect(refusals.length).toBeGreaterThanOrEqual(N)
    expect(refusals[0]).toMatchObject({ serverCode: 'forbidden', status: 403, fatal: false })
    expect(refusals[0]!.message).toMatch(/origin not allowed/)
    // Requests in the window: one GET and one POST per loop, each GET at least the scheduled delay after the last.
    // (the Nth refusal came on the Nth connection: N GETs so far, the next one waits out the Nth delay).
    const gets = pe.requests.filter((r) => r.kind === 'sse').slice(0, N)
    const last = pe.requests.filter((r) => r.kind === 'post')[N - 1]!.at
    const window = pe.requests.filter((r) => r.at <= last)
    console.log(`storm check: ${window.length} requests in ${(last - gets[0]!.at).toFixed(0)} ms over ${N} loops (schedule sum before the last: ${waits.slice(0, N - 1).reduce((a, e) => a + e.delayMs!, 0)} ms)`)
    expect(window.length).toBe(2 * N)
    for (let i = 1; i < N; i++) expect(gets[i]!.at - gets[i - 1]!.at).toBeGreaterThanOrEqual(waits[i - 1]!.delayMs! - 2)
  })

  it('with maxAttempts, a POST refusal loop gives up: a hello does not reset the failed-attempt count', async () => {
    const pe = await peer({ sse: (res) => sseHello(res), post: (_b, res) => jsonReply(res, 403, [{ t: 'error', code: 'forbidden', message: 'no' }]) })
    const c = makeClient(pe.url, { transports: ['sse'], maxAttempts: 3 })
    c.on('error', () => {})
    await c.connect()
    const err = await c.send({ type: 'count', n: 1 }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'gave_up' })
    expect(pe.requests.filter((r) => r.kind === 'post')).toHaveLength(3)
  })

  it.each(both)('open → unauthorized → open is one refresh-and-retry, then auth_failed: a hello does not reset it (%s)', async (transport) => {
    const pe = await peer({
      ws: (ws) => (ws.send(helloFrame()), ws.send(JSON.stringify({ t: 'error', code: 'unauthorized', message: 'expired' })), ws.close(4401, 'unauthorized')),
      sse: (res) => sseHello(res),
      post: (_b, res) => jsonReply(res, 401, [{ t: 'error', code: 'unauthorized', message: 'expired' }]),
    })
    const c = makeClient(pe.url, { transports: [transport], token: () => 'tok' })
    c.on('error', () => {})
    const closed = waitFor(statusOf(c), (e) => e.status === 'closed', 15_000, 'auth_failed')
    await c.connect().catch(() => {})
    if (transport === 'sse') void c.send({ type: 'count', n: 1 }).catch(() => {})
    expect((await closed).reason).toBe('auth_failed')
    expect(pe.requests.filter((r) => r.kind === (transport === 'sse' ? 'post' : 'ws'))).toHaveLength(2)
  })

  it('a refused POST whose resend is accepted clears the refusal: later refusals get their refresh again', async () => {
    let refuse = true
    let seq = 0
    const pe = await peer({
      sse: (res) => sseHello(res),
      post: (b, res) => {
        const frames = JSON.parse(b) as { seq?: number }[]
        seq = Math.max(seq, ...frames.map((f) => f.seq ?? 0))
        if (refuse) {
          refuse = false
          return jsonReply(res, 401, [{ t: 'error', code: 'unauthorized', message: 'expired' }])
        }
        jsonReply(res, 200, [{ t: 'ack', seq }])
      },
    })
    const c = makeClient(pe.url, { transports: ['sse'], token: () => 'tok' })
    await c.connect()
    for (let n = 1; n <= 3; n++) {
      refuse = true
      await c.send({ type: 'count', n })
    }
    expect(c.status).toBe('open')
  })
})

// ---------------------------------------------------------------- errors stay typed

describe('error types', () => {
  it('ServerRefusalError is a SurewireError with a literal code', () => {
    const e = new ServerRefusalError('forbidden', 'm', false, 403)
    expect(e).toBeInstanceOf(SurewireError)
    expect(e.code).toBe('server_refused')
  })
})
