/**
 * Three reference-server processes on one real redis-server behind real nginx with a plain
 * round-robin upstream (no ip_hash): every request of a client may land on any process
 * (issue #9 "Tests"). One cluster for the file; the tests run in order and each leaves all three
 * processes running.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { until } from '../support/servers'
import { handledFrom, startCluster, trackedClient, type Cluster, type Tracked } from './cluster'
import { checkHandled, checkReceived, sendStream, topicStream } from './streams'

let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster(3)
}, 120_000)
afterAll(async () => {
  await cluster?.stop()
})

const open: Tracked[] = []
beforeEach(() => {
  cluster.handled.length = 0 // each test numbers its clients' counts from client 0
})
afterEach(() => {
  for (const t of open.splice(0)) t.c.close()
})

/** `p`, or a rejection naming `what` after `ms` (a bound for a step that may never finish, e.g. a POST with no session layer). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)))]).finally(() => clearTimeout(timer))
}

async function connected(transport: 'websocket' | 'sse', topic?: string): Promise<Tracked> {
  const t = trackedClient(cluster.url, transport)
  open.push(t)
  await within(t.c.connect(), 30_000, `a ${transport} client to connect`)
  if (topic) await within(t.c.subscribe(topic), 30_000, `a ${transport} client to subscribe to ${topic}`)
  return t
}

/** Clients until each of the cluster's processes homes at least one (round-robin spreads them; bounded). */
async function onEveryNode(transport: 'websocket' | 'sse', topic?: string): Promise<Map<string, Tracked[]>> {
  const by = new Map<string, Tracked[]>()
  // A process restarted by an earlier test may still be in nginx's fail_timeout (2 s): then a client
  // lands elsewhere, and after a pause the next round-robin turn reaches it. Bounded (≈ 20 s).
  for (let i = 0; i < 40 && by.size < cluster.nodes.length; i++) {
    const t = await connected(transport, topic)
    const home = await t.whoami()
    if (by.has(home) && i >= cluster.nodes.length) await new Promise((r) => setTimeout(r, 500))
    by.set(home, [...(by.get(home) ?? []), t])
  }
  expect([...by.keys()].sort()).toEqual(cluster.nodes.map((n) => n.name).sort())
  return by
}

/** An ack can reach the client before the handler's report reaches this process over IPC: wait for the reports (then the checker decides). */
async function handledAll(sent: number[]): Promise<void> {
  await until(() => sent.every((n, k) => handledFrom(cluster.handled, k).ns.length >= n), 15_000, 'the handlers\' reports').catch(() => {})
}

/** Wait until every client got `more` ticks and every stream acked `more` sends since `from`. */
async function progress(clients: Tracked[], acked: number[], more: number, what: string): Promise<void> {
  const got0 = clients.map((t) => t.got.length)
  const acked0 = [...acked]
  await until(() => clients.every((t, k) => t.got.length >= got0[k]! + more && acked[k]! >= acked0[k]! + more), 45_000, `${what}: ${more} more ticks and acks on every client`).catch((e: Error) => {
    throw new Error(`${e.message} (got ${clients.map((t) => t.got.length).join(', ')}; acked ${acked.join(', ')}; resets ${clients.map((t) => t.resets.join('+') || '-').join(', ')}; last status ${clients.map((t) => { const s = t.statuses.at(-1); return s ? `${s.status}/${s.reason}` : '-' }).join(', ')})`)
  })
}

describe.each(['sse', 'websocket'] as const)('clients forced to %s through round-robin', (transport) => {
  it('every send is acked and echoed', async () => {
    const clients = await Promise.all([0, 1, 2].map(() => connected(transport)))
    const echoes = clients.map(() => [] as string[])
    clients.forEach((t, k) => t.c.onMessage('echo', (m) => echoes[k]!.push(m.text)))
    const N = 20
    const outcomes = await Promise.all(
      clients.map(async (t, k) => {
        let acked = 0
        for (let i = 0; i < N; i++) {
          const ok = await Promise.race([t.c.send({ type: 'echo', text: `${k}:${i}` }).then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))])
          if (!ok) break // one lost send is the verdict; the count says how far it got
          acked++
        }
        return acked
      }),
    )
    expect(outcomes, `sends acked per client (of ${N})`).toEqual([N, N, N])
    await until(() => echoes.every((e) => e.length >= N), 30_000, 'every echo')
    echoes.forEach((e, k) => expect(e).toEqual(Array.from({ length: N }, (_, i) => `${k}:${i}`)))
    for (const t of clients) expect(t.resets).toEqual([])
  })
})

describe('fan-out', () => {
  it('a broadcast from one process is received exactly once, in order, by clients homed on every other', async () => {
    const by = await onEveryNode('websocket')
    const sse = await Promise.all([connected('sse'), connected('sse')])
    const all = [...[...by.values()].flat(), ...sse]
    const from = cluster.nodes[0]!
    const N = 200
    await from.broadcast(1, N)
    await until(() => all.every((t) => t.got.length >= N), 30_000, 'every client to get every broadcast').catch((e: Error) => {
      throw new Error(`${e.message}: got ${all.map((t) => t.got.length).join(', ')}`)
    })
    for (const t of all) expect(t.got).toEqual(Array.from({ length: N }, (_, i) => i + 1))
    expect([...by.keys()].filter((h) => h !== from.name).length).toBe(2) // homed on both other processes
  })
})

describe('SIGKILL of each process in turn, restarted', () => {
  it('a topic stream and a client → server stream: 0 lost, 0 duplicated, in order, 0 resets', async () => {
    const topic = 'kills'
    const clients = await Promise.all([connected('sse', topic), connected('sse', topic), connected('websocket', topic), connected('websocket', topic)])
    const feed = topicStream(cluster, topic)
    const sends = sendStream(clients)
    for (const node of cluster.nodes) {
      await progress(clients, sends.acked, 30, `before killing ${node.name}`)
      await node.kill()
      await progress(clients, sends.acked, 30, `after killing ${node.name}`)
      await node.start()
    }
    await progress(clients, sends.acked, 30, 'after the last restart')
    const total = await feed.stop()
    const sent = await sends.stop()
    await handledAll(sent)
    expect(feed.rejected, 'publishes rejected').toEqual([])
    await until(() => clients.every((t) => t.got.length >= total), 30_000, 'the rest of the topic stream')
    clients.forEach((t, k) => {
      expect(sends.failed[k], `client ${k} sends rejected`).toEqual([])
      expect(t.resets, `client ${k} resets`).toEqual([])
      expect(checkReceived(t, total), `client ${k} server → client`).toMatchObject({ lostAcrossReset: 0, problems: [] })
      expect(checkHandled(cluster, k, sent[k]!), `client ${k} client → server`).toMatchObject({ repeatedAcrossReset: 0, problems: [] })
    })
  }, 300_000)
})

describe('graceful drain', () => {
  it('every client of a draining process moves to another one and loses nothing', async () => {
    const topic = 'drain'
    const by = await onEveryNode('websocket', topic)
    const sse = await Promise.all([0, 1, 2].map(() => connected('sse', topic)))
    for (const t of sse) {
      const home = await t.whoami()
      by.set(home, [...(by.get(home) ?? []), t])
    }
    const all = [...by.values()].flat()
    const node = cluster.nodes[1]!
    const movers = by.get(node.name)!
    try {
      const feed = topicStream(cluster, topic)
      const sends = sendStream(all)
      await progress(all, sends.acked, 20, 'before the drain')
      await node.drain(3_000)
      await node.exited()
      await progress(all, sends.acked, 20, 'after the drain')
      const total = await feed.stop()
      const sent = await sends.stop()
      await handledAll(sent)
      for (const t of movers) expect(await t.whoami(), 'a moved client is homed elsewhere').not.toBe(node.name)
      await until(() => all.every((t) => t.got.length >= total), 30_000, 'the rest of the topic stream')
      all.forEach((t, k) => {
        expect(t.resets, `client ${k} resets`).toEqual([])
        expect(sends.failed[k]).toEqual([])
        expect(checkReceived(t, total)).toMatchObject({ lostAcrossReset: 0, problems: [] })
        expect(checkHandled(cluster, k, sent[k]!)).toMatchObject({ repeatedAcrossReset: 0, problems: [] })
      })
      // A clean drain reports no outage (a shutdown is not a broker failure).
      expect(node.errors).toEqual([])
    } finally {
      if (!node.alive) await node.start() // the next test needs all three, whatever happened here
    }
  }, 180_000)
})

describe('Redis stopped and restarted under traffic', () => {
  it('no crash, every resolved publish and every send delivered once in order, no reset, recovers on its own', async () => {
    const topic = 'redis'
    const clients = await Promise.all([connected('sse', topic), connected('sse', topic), connected('websocket', topic), connected('websocket', topic)])
    const feed = topicStream(cluster, topic)
    const sends = sendStream(clients)
    await progress(clients, sends.acked, 30, 'before Redis stops')
    await cluster.redis.stop()
    await until(() => cluster.nodes.some((n) => n.errors.some((e) => e.code === 'broker_unavailable')), 30_000, 'the outage to be reported')
    await cluster.redis.start()
    await progress(clients, sends.acked, 30, 'after Redis is back').catch((e: Error) => {
      const errs = cluster.nodes.map((n) => `${n.name}: ${n.errors.map((x) => x.code).join(',')}`)
      throw new Error(`${e.message}; publishes resolved ${feed.resolved.length}, rejected ${feed.rejected.length}; node errors ${errs.join('; ')}`)
    })
    const total = await feed.stop()
    const sent = await sends.stop()
    await handledAll(sent)
    for (const n of cluster.nodes) expect(n.alive, `${n.name} survived (stderr: ${n.stderr().slice(-1_500)})`).toBe(true)
    await until(() => clients.every((t) => feed.resolved.every((x) => t.got.includes(x))), 30_000, 'every resolved publish')
    clients.forEach((t, k) => {
      expect(t.resets, `client ${k} resets`).toEqual([])
      expect(new Set(t.got).size, 'exactly once').toBe(t.got.length)
      expect(t.got).toEqual([...t.got].sort((a, b) => a - b))
      expect(t.got.filter((x) => x > total)).toEqual([])
      expect(sends.failed[k]).toEqual([])
      expect(checkHandled(cluster, k, sent[k]!)).toMatchObject({ repeatedAcrossReset: 0, problems: [] })
    })
    expect(cluster.nodes.flatMap((n) => n.errors.filter((e) => e.code === 'broker_data_lost'))).toEqual([]) // AOF kept the data
  }, 180_000)
})
