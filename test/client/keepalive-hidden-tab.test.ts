/**
 * Keepalive in background tabs: browsers throttle timers in hidden tabs and suspended
 * machines fire them late, so a missing pong there is not taken as a dead connection;
 * a tab that becomes visible checks at once.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { LifecycleSource, StatusEvent, WebSocketConstructor } from '../../src'
import { startProxy, type TestProxy } from '../support/proxy'
import { TestWebSocket, closeClients, makeClient, startServer, until, waitFor, type TestServer } from '../support/servers'

let servers: TestServer[] = []
let proxies: TestProxy[] = []
afterEach(async () => {
  vi.useRealTimers()
  vi.restoreAllMocks()
  closeClients()
  await Promise.all(proxies.map((p) => p.close()))
  await Promise.all(servers.map((s) => s.close()))
  servers = []
  proxies = []
})

/** A page the test hides and shows by hand. */
function page() {
  let listener: ((e: 'online' | 'offline' | 'visible') => void) | undefined
  const state = { hidden: false }
  const source: LifecycleSource = {
    subscribe(l) {
      listener = l
      return () => (listener = undefined)
    },
    hidden: () => state.hidden,
  }
  return { source, state, fire: (e: 'visible') => listener?.(e) }
}

/** TestWebSocket that counts the pings it sends. */
function countingWebSocket() {
  const counter = { pings: 0 }
  const Base = TestWebSocket as unknown as new (url: string) => { send(data: string): void }
  class Counting extends Base {
    override send(data: string): void {
      if (data.includes('"t":"ping"')) counter.pings++
      super.send(data)
    }
  }
  return { WebSocket: Counting as unknown as WebSocketConstructor, counter }
}

async function stalledClient() {
  const s = await startServer()
  servers.push(s)
  const p = await startProxy({ targetPort: s.port })
  proxies.push(p)
  const tab = page()
  const { WebSocket, counter } = countingWebSocket()
  // The periodic pinger stays out of the way (hb 15 s); pings here come from `visible` and re-arms.
  const c = makeClient(p.url('/realtime'), { WebSocket, transports: ['websocket'], lifecycle: tab.source, pongTimeoutMs: 150 })
  await c.connect()
  const events: StatusEvent[] = []
  c.on('status', (e) => events.push(e))
  p.stallAll() // half-open from now on: pings get no pong
  return { c, tab, counter, events }
}

describe('keepalive in a background tab', () => {
  it('does not declare a hidden tab dead on a missing pong; a visible one is checked at once', async () => {
    const { c, tab, counter, events } = await stalledClient()
    tab.fire('visible') // health check: ping, pong timer armed
    tab.state.hidden = true
    const base = counter.pings
    // Each expired pong timer while hidden sends a fresh ping instead of reconnecting.
    await until(() => counter.pings >= base + 4, 15_000, 'pings re-sent while hidden')
    expect(c.status).toBe('open')
    expect(events).toEqual([]) // no status change at all

    tab.state.hidden = false
    const lost = await waitFor<StatusEvent>((fn) => c.on('status', fn), (e) => e.status === 'reconnecting', 15_000, 'pong timeout once visible')
    expect(lost.reason).toBe('pong_timeout')
  })

  it('asks again when the pong timer fires late (throttled or suspended), then gives up on time', async () => {
    const { c, tab, counter } = await stalledClient()
    // The keepalive reads the monotonic clock (performance.now): skew it, keep real timers and sockets.
    const realNow = performance.now.bind(performance)
    let skewMs = 0
    vi.spyOn(performance, 'now').mockImplementation(() => realNow() + skewMs)
    tab.fire('visible')
    const base = counter.pings
    skewMs = 60_000 // the pong timer will fire a minute "late"
    await until(() => counter.pings > base, 15_000, 'a fresh ping after a late timer')
    expect(c.status).toBe('open')
    // On time now (the skew stays constant): no pong means dead.
    const lost = await waitFor<StatusEvent>((fn) => c.on('status', fn), (e) => e.status === 'reconnecting', 15_000, 'pong timeout')
    expect(lost.reason).toBe('pong_timeout')
  })
})
