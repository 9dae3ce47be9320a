/**
 * The two sequenced streams of the cluster suite, each running until told to stop:
 * server → client (the publisher publishes 1, 2, 3 … to a topic) and client → server (each
 * client sends `count` k × COUNT_BASE + 1, + 2 … with a few in flight). Checked with the chaos
 * checker of the reliability suite (`analyze`): exactly once, in order, and with no reset
 * announced there is nothing to lose across one either.
 */
import { analyze, type DirectionReport } from '../reliability/chaos-scenario'
import { COUNT_BASE, handledFrom, type Cluster, type Tracked } from './cluster'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export interface TopicStream {
  /** publish() calls that resolved / rejected (a rejected one may still arrive, at most once). */
  resolved: number[]
  rejected: number[]
  /** Stop after the publish in progress; resolves with the last number published. */
  stop(): Promise<number>
}

/** Publish 1, 2, 3 … to `topic` from the in-process publisher, one every `gapMs`, until stopped. */
export function topicStream(cluster: Cluster, topic: string, gapMs = 4): TopicStream {
  let stopped = false
  let n = 0
  const resolved: number[] = []
  const rejected: number[] = []
  const loop = (async () => {
    while (!stopped) {
      const k = ++n
      await cluster.publisher.publish(topic, { type: 'tick', n: k }).then(
        () => resolved.push(k),
        () => rejected.push(k),
      )
      await sleep(gapMs)
    }
  })()
  return {
    resolved,
    rejected,
    async stop() {
      stopped = true
      await loop
      return n
    },
  }
}

export interface SendStream {
  /** Sends acked (resolved), per client. */
  acked: number[]
  /** Sends that rejected, per client, with why. */
  failed: string[][]
  /** Stop sending; resolves once every send made has settled, with the count sent per client. */
  stop(ms?: number): Promise<number[]>
}

/** Every client sends k × COUNT_BASE + i, i = 1, 2 …, at most `inFlight` unacked at a time, until stopped. */
export function sendStream(clients: Tracked[], inFlight = 8, gapMs = 4): SendStream {
  let stopped = false
  const acked = clients.map(() => 0)
  const failed = clients.map((): string[] => [])
  const sent = clients.map(() => 0)
  const loops = clients.map(async (t, k) => {
    const pending = new Set<Promise<void>>()
    while (!stopped) {
      const i = ++sent[k]!
      const p: Promise<void> = t.c.send({ type: 'count', n: k * COUNT_BASE + i }).then(
        () => void acked[k]!++,
        (e: Error) => void failed[k]!.push(`${i}: ${e.name} ${(e as { code?: string }).code ?? ''} ${e.message}`),
      )
      pending.add(p)
      void p.finally(() => pending.delete(p))
      while (pending.size >= inFlight && !stopped) await Promise.race(pending)
      await sleep(gapMs)
    }
    await Promise.all(pending)
  })
  return {
    acked,
    failed,
    async stop(ms = 60_000) {
      stopped = true
      let t: ReturnType<typeof setTimeout> | undefined
      await Promise.race([Promise.all(loops), new Promise<void>((_, reject) => (t = setTimeout(() => reject(new Error(`sends still unsettled after ${ms} ms: acked ${acked.join(', ')} of ${sent.join(', ')}`)), ms)))])
      clearTimeout(t)
      return sent
    },
  }
}

/** Server → client for one client: its ticks against the `total` published; no reset allowed, so one segment. */
export function checkReceived(t: Tracked, total: number): DirectionReport {
  return analyze([t.got], total, true)
}

/** Client → server for client `k`: what the handlers ran (de-duplicated by (conn.id, inboundSeq)) against the `sent` count. */
export function checkHandled(cluster: Cluster, k: number, sent: number): DirectionReport & { repeats: number } {
  const { ns, repeats } = handledFrom(cluster.handled, k)
  return { ...analyze([ns], sent, false), repeats }
}
