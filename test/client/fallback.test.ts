/**
 * WebSocket → SSE fallback of RealtimeClient against the reference server behind
 * the misbehaving proxy (test/support/proxy.ts), all on 127.0.0.1.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, SurewireError, type StatusEvent, type WebSocketConstructor, type WebSocketLike } from '../../src'
import { startProxy, type ProxyMode, type TestProxy } from '../support/proxy'
import { TestWebSocket, closeClients, makeClient, startServer, until, waitFor, type TestServer } from '../support/servers'

type Client = ReturnType<typeof makeClient>

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  closeClients()
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function setup(mode: ProxyMode, refuseStatus?: 400 | 426): Promise<{ server: TestServer; proxy: TestProxy; url: string }> {
  const server = await startServer()
  cleanups.push(() => server.close())
  const proxy = await startProxy({ targetPort: server.port, mode, ...(refuseStatus ? { refuseStatus } : {}) })
  cleanups.push(() => proxy.close())
  return { server, proxy, url: proxy.url('/realtime') }
}

const nextStatus = (c: Client, pred: (e: StatusEvent) => boolean, what: string) =>
  waitFor<StatusEvent>((fn) => c.on('status', fn), pred, 15_000, what)

/** connect() and return the `open` status event it produced. */
async function connectOpen(c: Client): Promise<StatusEvent> {
  const open = nextStatus(c, (e) => e.status === 'open', 'open status')
  await c.connect()
  return open
}

/** Both directions work: send() resolves on the server's ack and the echo comes back. */
async function roundTrip(c: Client): Promise<void> {
  const text = `echo-${Math.random()}`
  const echoed = waitFor<{ text: string }>((fn) => c.onMessage('echo', fn), (m) => m.text === text, 15_000, 'echo')
  await c.send({ type: 'echo', text })
  expect((await echoed).text).toBe(text)
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

function memoryStorage() {
  const map = new Map<string, string>()
  return {
    map,
    getItem: (k: string) => map.get(k) ?? null,
    setItem: (k: string, v: string) => void map.set(k, v),
    removeItem: (k: string) => void map.delete(k),
  }
}

/**
 * The test WebSocket with every event delivered 100 ms late (order kept). During a probe
 * takeover the server's end of the old SSE stream then always reaches the client before
 * the probe's `open`: the ordering that loaded machines produce now and then.
 */
class LateWebSocket implements WebSocketLike {
  readonly #ws: WebSocketLike
  onopen: WebSocketLike['onopen'] = null
  onmessage: WebSocketLike['onmessage'] = null
  onerror: WebSocketLike['onerror'] = null
  onclose: WebSocketLike['onclose'] = null
  constructor(url: string) {
    this.#ws = new TestWebSocket(url)
    const late = (name: 'onopen' | 'onmessage' | 'onerror' | 'onclose') => (ev: never) =>
      void setTimeout(() => (this[name] as ((e: never) => void) | null)?.(ev), 100)
    this.#ws.onopen = late('onopen')
    this.#ws.onmessage = late('onmessage')
    this.#ws.onerror = late('onerror')
    this.#ws.onclose = late('onclose')
  }
  get readyState() {
    return this.#ws.readyState
  }
  get binaryType() {
    return this.#ws.binaryType
  }
  set binaryType(v: string) {
    this.#ws.binaryType = v
  }
  send(data: string) {
    this.#ws.send(data)
  }
  close(code?: number, reason?: string) {
    this.#ws.close(code, reason)
  }
}

// A head start longer than any plausible loopback handshake, where the test expects WebSocket,
// so a slow box cannot let SSE win the race and blur what is being tested.
const noRace = { sseHeadStartMs: 10_000 }

describe('WebSocket → SSE fallback through a misbehaving proxy', () => {
  it('pass: opens on WebSocket', async () => {
    const { proxy, url } = await setup('pass')
    const client = makeClient(url, noRace)
    expect(await connectOpen(client)).toMatchObject({ transport: 'websocket', reason: 'opened' })
    expect(client.transport).toBe('websocket')
    await roundTrip(client)
    expect(proxy.stats).toMatchObject({ upgrades: 1, refused: 0 })
  })

  it.each([400, 426] as const)('refuse with %i: falls back to SSE at once (ws_refused)', async (status) => {
    const { proxy, url } = await setup('refuse', status)
    const client = makeClient(url, noRace) // the refusal itself, not the head start, must trigger SSE
    expect(await connectOpen(client)).toMatchObject({ transport: 'sse', reason: 'ws_refused' })
    expect(client.transport).toBe('sse')
    await roundTrip(client)
    expect(proxy.stats).toMatchObject({ upgrades: 1, refused: 1 })
  })

  it('hang: SSE starts after the head start and wins long before connectTimeoutMs (ws_timeout)', async () => {
    const { proxy, url } = await setup('hang')
    const client = makeClient(url, { sseHeadStartMs: 200, connectTimeoutMs: 20_000 })
    const started = performance.now()
    expect(await connectOpen(client)).toMatchObject({ transport: 'sse', reason: 'ws_timeout' })
    expect(performance.now() - started).toBeLessThan(10_000) // generous: ~200 ms + handshake
    expect(proxy.stats.hung).toBe(1)
    await roundTrip(client)
  })

  it('blackhole: an upgrade that opens but never delivers hello loses to SSE (ws_silent)', async () => {
    // The 101 gets through, so the socket opened; no frame follows. When SSE's hello wins,
    // client.ts #hello counts the opened-but-silent WebSocket candidate as `ws_silent`.
    const { proxy, url } = await setup('blackhole')
    const client = makeClient(url, { sseHeadStartMs: 2_000, connectTimeoutMs: 20_000 })
    expect(await connectOpen(client)).toMatchObject({ transport: 'sse', reason: 'ws_silent' })
    expect(proxy.stats.upgrades).toBe(1)
    await roundTrip(client)
  })

  it('remembers a blocked WebSocket per URL: the next client goes straight to SSE (ws_remembered)', async () => {
    const { proxy, url } = await setup('refuse')
    const storage = memoryStorage()
    const opts = { storage, rememberFallbackMs: 60_000, wsProbeIntervalMs: 0, ...noRace }
    const first = makeClient(url, opts)
    expect(await connectOpen(first)).toMatchObject({ transport: 'sse', reason: 'ws_refused' })
    expect([...storage.map.keys()]).toEqual([expect.stringMatching(/^surewire:ws-blocked:/)])
    const upgrades = proxy.stats.upgrades
    expect(upgrades).toBe(1)

    const second = makeClient(url, opts)
    expect(await connectOpen(second)).toMatchObject({ transport: 'sse', reason: 'ws_remembered' })
    await roundTrip(second)
    expect(proxy.stats.upgrades).toBe(upgrades) // no WebSocket attempt at all
  })

  it.each([
    ['', TestWebSocket],
    [' (WebSocket events arriving late)', LateWebSocket as WebSocketConstructor],
  ])('background probe moves a live session back to WebSocket without losing or duplicating a message%s', async (_, WebSocket) => {
    const { server, proxy, url } = await setup('refuse')
    let sent = 0
    const received: number[] = []
    const timers: ReturnType<typeof setInterval>[] = []
    cleanups.push(() => timers.forEach(clearInterval))
    server.realtime.on('connection', (conn) => {
      timers.push(setInterval(() => conn.send({ type: 'tick', n: ++sent }), 5))
      conn.on('message', (m) => m.type === 'count' && received.push(m.n))
    })

    const client = makeClient(url, { WebSocket, wsProbeIntervalMs: 300, ...noRace })
    const statuses: string[] = []
    client.on('status', (e) => statuses.push(`${e.status}:${e.reason}:${e.transport}`))
    const ticks: number[] = []
    client.onMessage('tick', (m) => ticks.push(m.n))
    expect(await connectOpen(client)).toMatchObject({ transport: 'sse', reason: 'ws_refused' })
    await until(() => ticks.length >= 20 && proxy.stats.refused >= 2, 15_000, 'ticks on SSE and a refused probe')

    // Client → server messages keep going out every 10 ms across the switch.
    let k = 0
    const sends: Promise<void>[] = []
    const sendOne = () => void sends.push(client.send({ type: 'count', n: ++k }))
    for (let i = 0; i < 5; i++) sendOne()
    const pacing = setInterval(sendOne, 10)
    cleanups.push(() => clearInterval(pacing))
    const restored = nextStatus(client, (e) => e.reason === 'ws_restored', 'ws_restored')
    proxy.mode = 'pass'
    expect(await restored).toMatchObject({ status: 'open', transport: 'websocket' })
    expect(client.transport).toBe('websocket')

    const atSwitch = ticks.length
    await until(() => ticks.length >= atSwitch + 50, 15_000, 'ticks on WebSocket')
    clearInterval(pacing)
    timers.forEach(clearInterval)
    const last = sent
    await until(() => ticks.includes(last), 15_000, `tick ${last}`)

    expect(ticks).toEqual(range(last)) // every tick exactly once, in order (stats.duplicates may be > 0)
    await Promise.all(sends)
    expect(received).toEqual(range(k))
    expect(k).toBeGreaterThan(5)
    expect(statuses).toEqual(['connecting:connect_called:null', 'open:ws_refused:sse', 'open:ws_restored:websocket'])
    await roundTrip(client)
  })

  it('no WebSocket in the runtime: ConfigError websocket_unavailable, then SSE (ws_unavailable)', async () => {
    // Node 20 has no global WebSocket; Node ≥ 22 has one, which would be used when the option is
    // undefined, so remove it for this test and put it back afterwards.
    const g = globalThis as { WebSocket?: unknown }
    const saved = Object.getOwnPropertyDescriptor(g, 'WebSocket')
    if (saved) {
      delete g.WebSocket
      cleanups.push(() => Object.defineProperty(g, 'WebSocket', saved))
    }
    expect(g.WebSocket).toBeUndefined()

    const { proxy, url } = await setup('pass')
    const client = makeClient(url, { WebSocket: undefined })
    const errors: Error[] = []
    client.on('error', (e) => errors.push(e))
    expect(await connectOpen(client)).toMatchObject({ transport: 'sse', reason: 'ws_unavailable' })
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(ConfigError)
    expect(errors[0]).toMatchObject({ code: 'websocket_unavailable', message: expect.stringMatching(/\bws\b/) })
    await roundTrip(client)
    expect(proxy.stats.upgrades).toBe(0)
  })

  describe("transports: ['websocket'] behind a refusing proxy", () => {
    it('keeps retrying WebSocket with a growing attempt count (ws_refused), never SSE', async () => {
      const { proxy, url } = await setup('refuse')
      const client = makeClient(url, { transports: ['websocket'] })
      const retries: StatusEvent[] = []
      client.on('status', (e) => e.status === 'reconnecting' && retries.push(e))
      const connecting = client.connect().catch((e: unknown) => e)
      await until(() => retries.length >= 5, 15_000, '5 reconnecting events')
      client.close()
      expect(await connecting).toMatchObject({ code: 'client_closed' })
      expect(retries.slice(0, 5).map((e) => [e.attempt, e.reason])).toEqual(range(5).map((n) => [n, 'ws_refused']))
      expect(proxy.stats.httpRequests).toBe(0) // no SSE
      expect(proxy.stats.refused).toBeGreaterThanOrEqual(5)
    })

    it('with maxAttempts: 3, connect() rejects with gave_up', async () => {
      const { proxy, url } = await setup('refuse')
      const client = makeClient(url, { transports: ['websocket'], maxAttempts: 3 })
      const statuses: StatusEvent[] = []
      client.on('status', (e) => statuses.push(e))
      const err = await client.connect().then(
        () => expect.unreachable('connect() resolved'),
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(SurewireError)
      expect(err).toMatchObject({ code: 'gave_up' })
      // Three failed attempts in all: two retries, then the third failure gives up.
      expect(statuses.filter((e) => e.status === 'reconnecting').map((e) => e.attempt)).toEqual([1, 2])
      expect(statuses.at(-1)).toMatchObject({ status: 'closed', reason: 'gave_up' })
      expect(client.status).toBe('closed')
      expect(proxy.stats.refused).toBe(3)
    })
  })

  it('a WebSocket that opened and then dropped reconnects on WebSocket, not SSE (connection_lost)', async () => {
    const { proxy, url } = await setup('pass')
    const client = makeClient(url, noRace)
    expect(await connectOpen(client)).toMatchObject({ transport: 'websocket', reason: 'opened' })
    await roundTrip(client)

    // A TCP close through the proxy carries no close frame (code 1006): lossReason → connection_lost.
    const lost = nextStatus(client, (e) => e.status === 'reconnecting', 'reconnecting')
    const reopened = nextStatus(client, (e) => e.status === 'open', 'reopen')
    expect(proxy.dropAll()).toBeGreaterThan(0)
    expect(await lost).toMatchObject({ reason: 'connection_lost', attempt: 1 })
    expect(await reopened).toMatchObject({ transport: 'websocket', reason: 'opened' })
    expect(client.stats.resumes).toBe(1)
    await roundTrip(client)
    expect(proxy.stats).toMatchObject({ upgrades: 2, httpRequests: 0 })
  })
})
