/**
 * realtime.drain({ windowMs }) on the Redis broker, three in-process instances sharing a real
 * redis-server: the draining process A moves EVERY client of its own one at a time over the
 * window, both kinds:
 * - sessions homed on A (handed over: flushed, marked released, transport closed 1012), and
 * - transports A relays for sessions homed on B (gateway-held: closed 1012, at their own moments,
 *   not all at once when the drain ends).
 * Each client is driven at the wire level and reconnects, as RealtimeClient does, to another
 * process with its `last` id: it resumes (no reset), moves exactly once, and its topic stream has
 * no gap and no duplicate.
 */
import { describe, expect, it } from 'vitest'
import { matching, wsPeer, type Frame, type WsPeer } from '../support/peer'
import { useRedis } from '../support/redis-server'
import { until } from '../support/servers'
import { redisNode } from './nodes'

const fixture = useRedis()

const node = (prefix: string) => redisNode(fixture, prefix)

/** A wire-level client that follows its session: on a close it reconnects to `next()` with its last id. */
class Mover {
  readonly peers: WsPeer[] = []
  readonly closes: { code: number; at: number }[] = []
  readonly hellos: Frame<'hello'>[] = []
  sid = ''
  constructor(private readonly next: () => string) {}

  get peer(): WsPeer {
    return this.peers.at(-1)!
  }

  /** Every msg frame received, over all its connections. */
  msgs(): Frame<'msg'>[] {
    return this.peers.flatMap((p) => matching(p.frames, 'msg'))
  }

  async open(url: string, query = ''): Promise<void> {
    const p = wsPeer(url, query)
    this.peers.push(p)
    const hello = await p.hello()
    this.hellos.push(hello)
    this.sid = hello.sid
  }

  /** Follow the session from now on: each close → reconnect elsewhere with `last`. */
  follow(t0: number): void {
    const p = this.peer
    void p.closed().then(
      async ({ code }) => {
        if (this.peer !== p) return
        this.closes.push({ code, at: performance.now() - t0 })
        const last = Math.max(0, ...this.msgs().map((f) => f.id))
        await this.open(this.next(), `sid=${this.sid}&last=${last}`)
        this.follow(t0)
      },
      () => {},
    )
  }
}

const ticks = (frames: Frame<'msg'>[]) => frames.map((f) => (f.d as { n: number }).n)

describe('drain() on the Redis broker', () => {
  it("spreads the moves of A's own sessions AND of the transports it relays over the window; every client moves once and resumes with no loss", async () => {
    const prefix = `d${process.pid}-1:`
    const [a, b, c] = await Promise.all([node(prefix), node(prefix), node(prefix)])
    let turn = 0
    const elsewhere = () => [b, c][turn++ % 2]!.url
    // Sessions homed on A.
    const homed = Array.from({ length: 4 }, () => new Mover(elsewhere))
    for (const m of homed) await m.open(a.url)
    // Sessions homed on B whose transport is on A (A relays them: gateway-held).
    const relayed = Array.from({ length: 12 }, () => new Mover(elsewhere))
    for (const m of relayed) {
      await m.open(b.url)
      m.peer.ws.close()
      await m.peer.closed()
      await m.open(a.url, `sid=${m.sid}&last=0`)
      expect(m.hellos.at(-1)).toMatchObject({ sid: m.sid, resumed: true })
    }
    const all = [...homed, ...relayed]
    for (const m of all) {
      m.peer.send({ t: 'sub', seq: 1, topic: 'feed' })
      await m.peer.wait('ack', (f) => f.seq === 1)
    }
    expect(a.realtime.connections).toHaveLength(homed.length)
    expect(b.realtime.connections).toHaveLength(relayed.length)

    // C publishes 1, 2, 3 … to the topic throughout.
    let publishing = true
    let published = 0
    const feed = (async () => {
      while (publishing) {
        await c.realtime.publish('feed', { type: 'tick', n: ++published }).catch(() => (publishing = false)) // stops if the test failed and C closed
        await new Promise((r) => setTimeout(r, 5))
      }
    })()
    await until(() => all.every((m) => m.msgs().length >= 10), 30_000, 'the feed to reach every client')

    const windowMs = 3_000
    const t0 = performance.now()
    for (const m of all) m.follow(t0)
    await a.realtime.drain({ windowMs })
    const state = () => all.map((m, i) => `${i < homed.length ? 'homed' : 'relayed'}: closes ${m.closes.map((x) => `${x.code}@${x.at.toFixed(0)}`).join('+')} peers ${m.peers.length} hellos ${m.hellos.length}`).join('; ')
    await until(() => all.every((m) => m.closes.length >= 1 && m.hellos.length === m.peers.length && !m.peer.state.close), 30_000, 'every client to reconnect').catch((e: Error) => {
      throw new Error(`${e.message}: ${state()}; errors ${[...a.errors, ...b.errors, ...c.errors].map(String).join('; ')}`)
    })
    const more = published + 20
    await until(() => published >= more, 30_000, 'more publishes after the drain')
    publishing = false
    await feed
    await until(() => all.every((m) => ticks(m.msgs()).includes(published)), 30_000, 'the rest of the feed')

    for (const m of all) {
      // Moved exactly once, by the drain (1012), and resumed where it left off.
      expect(m.closes.map((x) => x.code)).toEqual([1012])
      expect(m.hellos.at(-1)).toMatchObject({ sid: m.sid, resumed: true })
      expect(m.hellos.at(-1)!.reset).toBeUndefined()
      const ids = m.msgs().map((f) => f.id)
      expect(new Set(ids).size, 'no message id twice').toBe(ids.length)
      const got = ticks(m.msgs())
      const from = got[0]!
      expect(got, 'the topic stream: no gap, no duplicate, in order').toEqual(Array.from({ length: published - from + 1 }, (_, i) => from + i))
    }
    // Spread, not a herd: the closes of each kind cover a good part of the window. (12 uniform
    // draws all inside a third of it: p ≈ 12 · 3^-11 ≈ 7e-5; a late timer only widens the span.)
    const span = (ms: Mover[]) => Math.max(...ms.map((m) => m.closes[0]!.at)) - Math.min(...ms.map((m) => m.closes[0]!.at))
    expect(span(relayed), `relayed closes at ${relayed.map((m) => m.closes[0]!.at.toFixed(0)).join(', ')} ms`).toBeGreaterThan(windowMs / 3)
    for (const m of all) expect(m.closes[0]!.at).toBeLessThan(windowMs + 5_000) // within the window (generous: a loaded machine)
    // A's sessions were adopted on B or C; B's stayed on B; A holds nothing.
    expect(a.realtime.connections).toEqual([])
    expect(b.realtime.connections.length + c.realtime.connections.length).toBe(all.length)
    expect(b.realtime.connections.filter((x) => !x.adopted)).toHaveLength(relayed.length)
    expect([...a.errors, ...b.errors, ...c.errors]).toEqual([])
  }, 120_000)
})
