/**
 * A session's home process that is alive (still subscribed to its Redis channel, so no process
 * adopts its sessions) but does not answer: a child process stopped with SIGSTOP, as a process
 * whose event loop is blocked, or that a debugger or a paused VM holds. The gateway is an
 * in-process instance with a short `forwardTimeoutMs`.
 *
 * - A POST that lands on the gateway is answered within the bound: 503 with the protocol error
 *   body (`server_error`, `broker_unavailable: …`), unacked, so the client sends it again. Once the
 *   home answers again, the resend is acked and the handler ran exactly once (the home took the
 *   late forward; the resend is a duplicate seq, acked without a second run).
 * - A WebSocket relayed by the gateway stays open; the frames sent during the freeze are handled
 *   and acked in order once the home answers again: nothing lost, nothing twice.
 */
import { describe, expect, it } from 'vitest'
import { matching, postFrames, ssePeer, wsPeer } from '../support/peer'
import { useRedis } from '../support/redis-server'
import { until } from '../support/servers'
import { redisNode } from '../redis/nodes'
import { ClusterNode, type Handled } from './cluster'

const fixture = useRedis()
const FORWARD_TIMEOUT_MS = 1_500
let prefixes = 0

/** The home (a child process, stoppable) and the gateway (in this process) on one key prefix. */
async function homeAndGateway() {
  const prefix = `fz${process.pid}-${++prefixes}:`
  const handled: Handled[] = []
  const home = new ClusterNode('home', { SUREWIRE_REDIS_URL: fixture.redis.url, SUREWIRE_PREFIX: prefix }, (h) => handled.push(h))
  await home.start()
  fixture.cleanup(() => home.stop())
  fixture.cleanup(() => home.child?.kill('SIGCONT')) // runs first: a stopped process cannot take SIGTERM
  const gateway = await redisNode(fixture, prefix, { forwardTimeoutMs: FORWARD_TIMEOUT_MS })
  return { home, gateway, handled, homeUrl: `http://127.0.0.1:${home.port}/realtime` }
}

const count = (seq: number, n: number) => ({ t: 'msg', seq, d: { type: 'count', n } })

describe('a home process that is alive but does not answer (SIGSTOP)', () => {
  it('a POST on the gateway gets 503 broker_unavailable within forwardTimeoutMs; resent after the home thaws, it is handled exactly once', async () => {
    const { home, gateway, handled, homeUrl } = await homeAndGateway()
    const sse = await ssePeer(homeUrl)
    const { sid } = await sse.wait('hello')
    expect(matching((await postFrames(gateway.url, sid, JSON.stringify([count(1, 1)]))).body, 'ack').map((f) => f.seq)).toEqual([1])

    home.child!.kill('SIGSTOP')
    const t0 = performance.now()
    const r = await postFrames(gateway.url, sid, JSON.stringify([count(2, 2)]))
    const tookMs = performance.now() - t0
    expect(r.status).toBe(503)
    expect(r.body).toHaveLength(1)
    expect(r.body[0]).toMatchObject({ t: 'error', code: 'server_error', fatal: false })
    expect((r.body[0] as { message: string }).message).toMatch(/^broker_unavailable: .*forwardTimeoutMs=1500/)
    expect(tookMs).toBeGreaterThanOrEqual(FORWARD_TIMEOUT_MS - 1) // it waited for the home, not less
    expect(tookMs, 'answered within the bound (generous: a loaded machine)').toBeLessThan(FORWARD_TIMEOUT_MS + 10_000)
    // Reported on the gateway (an outage of the home, as the app should see it), typed.
    expect(gateway.errors.map((e) => (e as { code?: string }).code)).toEqual(['broker_unavailable'])
    // Still frozen: the next try is answered the same way (no hang, no adoption of a live home's session).
    expect((await postFrames(gateway.url, sid, JSON.stringify([count(2, 2)]))).status).toBe(503)
    expect(gateway.conns).toEqual([])

    home.child!.kill('SIGCONT')
    // The client sends the unacked frame again (RealtimeClient does, after a refused POST).
    let again = await postFrames(gateway.url, sid, JSON.stringify([count(2, 2)]))
    for (let i = 0; i < 20 && again.status !== 200; i++) again = await postFrames(gateway.url, sid, JSON.stringify([count(2, 2)]))
    expect(matching(again.body, 'ack').map((f) => f.seq)).toEqual([2])
    await until(() => handled.length >= 2, 15_000, "the home's reports")
    // Exactly once: the late forwards (taken by the home when it thawed) and the resend are one seq.
    expect(handled.map((h) => h.seq)).toEqual([1, 2])
    expect(handled.every((h) => h.node === 'home')).toBe(true)
    expect(home.errors).toEqual([])
  }, 60_000)

  it('a WebSocket relayed by the gateway waits: frames sent during the freeze are handled and acked in order once the home answers, none twice', async () => {
    const { home, gateway, handled, homeUrl } = await homeAndGateway()
    const first = wsPeer(homeUrl)
    const { sid } = await first.hello()
    first.ws.close()
    await first.closed()
    const ws = wsPeer(gateway.url, `sid=${sid}&last=0`)
    expect(await ws.hello()).toMatchObject({ sid, resumed: true })
    ws.send(count(1, 1))
    await ws.wait('ack', (f) => f.seq === 1)

    home.child!.kill('SIGSTOP')
    for (let seq = 2; seq <= 6; seq++) ws.send(count(seq, seq))
    // The gateway cannot tell a frozen home from a busy one: the transport stays open, the frames wait in Redis for the home.
    await new Promise((r) => setTimeout(r, FORWARD_TIMEOUT_MS * 2))
    expect(ws.state.close).toBeUndefined()
    expect(matching(ws.frames, 'ack').map((f) => f.seq)).toEqual([1])

    home.child!.kill('SIGCONT')
    await ws.wait('ack', (f) => f.seq === 6)
    await until(() => handled.length >= 6, 15_000, "the home's reports")
    expect(handled.map((h) => h.seq)).toEqual([1, 2, 3, 4, 5, 6])
    expect(ws.state.close).toBeUndefined()
    expect([...home.errors, ...gateway.errors]).toEqual([])
  }, 60_000)
})
