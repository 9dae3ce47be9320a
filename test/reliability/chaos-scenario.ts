/**
 * The chaos scenario, shared by test/reliability/chaos.test.ts (N = 20,000) and
 * bench/chaos.ts (larger N): one client talks to the reference server through the
 * misbehaving test proxy while both sides stream sequenced messages, and a seeded
 * schedule of faults hits the connection:
 *
 *   drop     the proxy kills every live connection (≥ 50 times)
 *   refuse   the proxy answers upgrades with 400 for a while (WebSocket → SSE),
 *            then lets them through again (the background probe moves back to WebSocket)
 *   stall    the proxy freezes live connections; keepalive must notice (pong on
 *            WebSocket, heartbeat silence on SSE)
 *   restart  the connection is frozen while the server sends a little more, then the
 *            server is closed and started again on the same port: the session and what
 *            the client had not received are gone, the client is told (`reset`), and the
 *            loss is accounted for
 *
 * Every random choice (schedule, backoff jitter, downtime) comes from the seed.
 * The run ends when both streams are complete; `analyze` then checks, per
 * direction, exactly-once in-order delivery except across the announced reset.
 */
import { RealtimeClient, fullJitterBackoff, type StatusEvent, type StatusReason } from '../../src'
import { startProxy, type TestProxy } from '../support/proxy'
import { ClientMessage, ServerMessage } from '../support/schemas'
import { TestWebSocket, startServer, until, type TestServer } from '../support/servers'
import { rng, sleep } from './support'

export interface ChaosOptions {
  seed: number
  /** Messages per direction. @default 20_000 */
  messages?: number
  /** Connection drops by the proxy. @default 60 */
  drops?: number
  /** Messages per second per direction. @default 1_000 */
  ratePerSecond?: number
  /** Give up (and fail) after this long. @default 150_000 */
  timeoutMs?: number
  log?: (line: string) => void
}

type Step =
  | { at: number; kind: 'drop' | 'refuse' | 'pass' | 'stall' }
  | { at: number; kind: 'restart'; downMs: number; behind: number }

export interface DirectionReport {
  /** Distinct messages that arrived. */
  delivered: number
  /** Lost across the announced reset (server → client only; the client re-sends its own). */
  lostAcrossReset: number
  /** Delivered twice across the announced reset (client → server: handled by the old server, ack lost in the restart). */
  repeatedAcrossReset: number
  /** Anything else: a gap, a duplicate or a reordering outside an announced reset. Must be empty. */
  problems: string[]
}

export interface ChaosReport {
  seed: number
  messages: number
  durationMs: number
  faults: { drops: number; refuseWindows: number; refusedUpgrades: number; stalls: number; restarts: number }
  serverToClient: DirectionReport
  clientToServer: DirectionReport
  client: { duplicatesSuppressed: number; resumes: number; resets: number; attempts: number; resetReasons: string[] }
  /** How each connection loss was explained, e.g. { connection_lost: 55, pong_timeout: 1, … }. */
  lossReasons: Record<string, number>
  /** How the client (re)opened, e.g. { opened: 57, ws_refused: 6, ws_restored: 1 }. */
  openReasons: Record<string, number>
  /** Keepalive detections observed for the stalls: `pong_timeout` (WebSocket) and `sse_silent` (SSE). */
  stallDetections: StatusReason[]
  /** `error` / `invalid` events the client emitted (should be none from a well-behaved server). */
  clientErrors: string[]
}

/** The seeded fault schedule: which fault fires once the server has sent how many messages. */
export function schedule(seed: number, n: number, drops: number): Step[] {
  const r = rng(seed).fork(1)
  // Three phases in a random order over [5 %, 95 %] of the stream: the refuse window (with an SSE
  // stall inside it), the restart, and a WebSocket stall.
  const phases = ['refuse', 'restart', 'stall'] as const
  const order = [...phases].sort(() => r.next() - 0.5)
  const slot = (i: number) => [Math.floor(n * (0.05 + 0.3 * i)), Math.floor(n * (0.05 + 0.3 * (i + 1)))] as const
  const steps: Step[] = []
  order.forEach((phase, i) => {
    const [lo, hi] = slot(i)
    const span = hi - lo
    if (phase === 'refuse') {
      const start = lo + r.int(0, Math.floor(span * 0.2))
      const end = start + r.int(Math.floor(span * 0.5), Math.floor(span * 0.75))
      steps.push({ at: start, kind: 'refuse' })
      steps.push({ at: r.int(start + 1, end - 1), kind: 'stall' }) // on SSE: heartbeat silence
      steps.push({ at: end, kind: 'pass' })
    } else if (phase === 'restart') {
      steps.push({ at: lo + r.int(Math.floor(span * 0.2), Math.floor(span * 0.8)), kind: 'restart', downMs: r.int(20, 400), behind: r.int(30, 200) })
    } else {
      steps.push({ at: lo + r.int(Math.floor(span * 0.2), Math.floor(span * 0.8)), kind: 'stall' }) // on WebSocket: pong timeout
    }
  })
  for (let i = 0; i < drops; i++) steps.push({ at: r.int(Math.floor(n * 0.02), Math.floor(n * 0.97)), kind: 'drop' })
  // Stable order: by position, faults that change the mode before drops at the same position.
  const rank = { refuse: 0, pass: 1, restart: 2, stall: 3, drop: 4 } as const
  return steps.sort((a, b) => a.at - b.at || rank[a.kind] - rank[b.kind])
}

/**
 * Check one direction. `segments` are the arrivals between announced resets, in order.
 * `lossAllowed`: may a segment start after the previous one ended (server → client), or
 * must it pick up at or before it (client → server: the client re-sends what was not acked)?
 */
export function analyze(segments: number[][], total: number, lossAllowed: boolean): DirectionReport {
  const problems: string[] = []
  let lost = 0
  let repeated = 0
  let prevEnd = 0
  const seen = new Set<number>()
  segments.forEach((seg, i) => {
    if (seg.length === 0) return
    for (let j = 1; j < seg.length; j++) {
      if (seg[j] !== seg[j - 1]! + 1 && problems.length < 10) {
        problems.push(`segment ${i}: ${seg[j - 1]} followed by ${seg[j]} (position ${j})`)
      }
    }
    const start = seg[0]!
    if (i === 0 || prevEnd === 0) {
      if (start !== 1) problems.push(`segment ${i} starts at ${start}, not 1`)
    } else if (start > prevEnd + 1) {
      if (lossAllowed) lost += start - prevEnd - 1
      else problems.push(`segment ${i} starts at ${start} after ${prevEnd}: ${start - prevEnd - 1} lost`)
    } else if (start <= prevEnd) {
      if (lossAllowed) problems.push(`segment ${i} starts at ${start}, repeating up to ${prevEnd}`)
      else repeated += prevEnd - start + 1
    }
    for (const x of seg) seen.add(x)
    prevEnd = seg.at(-1)!
  })
  if (prevEnd !== total) problems.push(`the stream ends at ${prevEnd}, not ${total}`)
  return { delivered: seen.size, lostAcrossReset: lost, repeatedAcrossReset: repeated, problems }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const { seed } = options
  const N = options.messages ?? 20_000
  const dropCount = options.drops ?? 60
  const rate = options.ratePerSecond ?? 1_000
  const timeoutMs = options.timeoutMs ?? 150_000
  const log = options.log ?? (() => {})
  const r = rng(seed)
  const steps = schedule(seed, N, dropCount)
  const tickMs = 10
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000))
  const serverOpts = { heartbeatIntervalMs: 250, replayWindow: N + 1_000 }

  const started = Date.now()
  let server: TestServer = await startServer(serverOpts)
  const proxy: TestProxy = await startProxy({ targetPort: server.port })
  const timers: ReturnType<typeof setInterval>[] = []
  let client: RealtimeClient<typeof ServerMessage, typeof ClientMessage> | undefined

  // ---- server side: what each server generation received from the client
  const received: number[][] = []
  const wire = (s: TestServer) => {
    const gen = received.push([]) - 1
    s.realtime.on('connection', (conn) => conn.on('message', (m) => m.type === 'count' && received[gen]!.push(m.n)))
  }
  wire(server)

  try {
    client = new RealtimeClient({
      url: proxy.url('/realtime'),
      incoming: ServerMessage,
      outgoing: ClientMessage,
      WebSocket: TestWebSocket,
      storage: null,
      lifecycle: null,
      backoff: fullJitterBackoff(10, 250, r.fork(2).next),
      connectTimeoutMs: 3_000,
      sseHeadStartMs: 1_000,
      wsProbeIntervalMs: 200,
      pingIntervalMs: 250,
      pongTimeoutMs: 750,
      maxQueuedMessages: 1_000,
    })
    const c = client

    // ---- client side: what arrived, where the announced resets fell, every status
    const got: number[] = []
    const resets: { at: number; reason: string }[] = []
    const lossReasons: Record<string, number> = {}
    const openReasons: Record<string, number> = {}
    const clientErrors: string[] = []
    let opens = 0
    c.onMessage('tick', (m) => got.push(m.n))
    c.on('reset', (e) => resets.push({ at: got.length, reason: e.reason }))
    c.on('invalid', (e) => clientErrors.push(`invalid: ${e.error.message}`))
    c.on('error', (e) => clientErrors.push(`${e.name}: ${e.message}`))
    const statusWaiters = new Set<(e: StatusEvent) => void>()
    const recent: string[] = [] // the last status changes, for a failure message
    c.on('status', (e) => {
      recent.push(`${((Date.now() - started) / 1000).toFixed(2)}s ${e.status}/${e.transport ?? '-'} ${e.reason}${e.detail ? ` (${e.detail})` : ''}`)
      if (recent.length > 12) recent.shift()
      if (e.status === 'open') {
        opens++
        openReasons[e.reason] = (openReasons[e.reason] ?? 0) + 1
      }
      if (e.status === 'reconnecting') lossReasons[e.reason] = (lossReasons[e.reason] ?? 0) + 1
      for (const w of [...statusWaiters]) w(e)
    })
    /** Resolve on the first status event matching `pred` from now on. */
    const nextStatus = (pred: (e: StatusEvent) => boolean, what: string, ms = 30_000) =>
      new Promise<StatusEvent>((resolve, reject) => {
        const timer = setTimeout(() => {
          statusWaiters.delete(w)
          reject(new Error(`timed out after ${ms} ms waiting for ${what} (status ${c.status}/${c.transport}); last status changes:\n  ${recent.join('\n  ')}`))
        }, ms)
        const w = (e: StatusEvent) => {
          if (!pred(e)) return
          clearTimeout(timer)
          statusWaiters.delete(w)
          resolve(e)
        }
        statusWaiters.add(w)
      })
    const reopened = async (what: string) => {
      const before = opens
      await until(() => opens > before && c.status === 'open', 30_000, `${what}: the client to open again`)
    }

    // ---- the two streams. Both pause at the next fault's position until that fault starts, so every
    // fault lands where the schedule says (mid-stream, both ways), whatever the machine's speed.
    let sent = 0
    let pauseAt = 0
    timers.push(
      setInterval(() => {
        if (server.realtime.connections.length === 0) return // restarting: nothing to send into
        if (sent - got.length > 3_000) return // bound what piles up while the client is away
        for (let i = 0; i < perTick && sent < pauseAt; i++) void server.realtime.broadcast({ type: 'tick', n: ++sent })
      }, tickMs),
    )
    let nextOut = 1
    let inFlight = 0
    let acked = 0
    const sendErrors: string[] = []
    const pumpClient = () => {
      for (let i = 0; i < perTick && nextOut <= Math.min(N, pauseAt) && inFlight < 200; i++) {
        const n = nextOut++
        inFlight++
        c.send({ type: 'count', n }).then(
          () => {
            inFlight--
            acked++
          },
          (err: Error) => {
            inFlight--
            sendErrors.push(`count ${n}: ${err.message}`)
          },
        )
      }
    }

    await c.connect()
    timers.push(setInterval(pumpClient, tickMs))

    // ---- the fault schedule
    const faults = { drops: 0, refuseWindows: 0, refusedUpgrades: 0, stalls: 0, restarts: 0 }
    const stallDetections: StatusReason[] = []
    for (const [i, step] of steps.entries()) {
      pauseAt = Math.max(pauseAt, step.at)
      await until(() => sent >= step.at, timeoutMs, `the server to reach message ${step.at} for ${step.kind}`)
      await until(() => c.status === 'open', 30_000, `the client to be open before ${step.kind}`)
      // Traffic keeps flowing while the fault plays out (buffered for replay while the client is
      // away), up to the next fault's position; the restart sets its own bound below.
      const nextAt = steps[i + 1]?.at ?? N
      if (step.kind !== 'restart') pauseAt = Math.max(pauseAt, nextAt)
      switch (step.kind) {
        case 'drop': {
          const done = reopened('drop')
          proxy.dropAll()
          faults.drops++
          await done
          break
        }
        case 'refuse': {
          proxy.mode = 'refuse'
          const onSse = nextStatus((e) => e.status === 'open' && e.transport === 'sse', 'an SSE fallback')
          proxy.dropAll()
          faults.drops++
          faults.refuseWindows++
          await onSse
          break
        }
        case 'pass': {
          proxy.mode = 'pass'
          if (c.transport !== 'websocket') await nextStatus((e) => e.status === 'open' && e.transport === 'websocket', 'the probe back to WebSocket')
          break
        }
        case 'stall': {
          // Outside the refuse window the stall is meant for WebSocket. A drop that hit a WebSocket
          // handshake may have sent the client to SSE, where a background probe (a new connection, not
          // frozen) could heal the stall before keepalive notices: be back on WebSocket first.
          if (proxy.mode === 'pass' && c.transport !== 'websocket') {
            await nextStatus((e) => e.status === 'open' && e.transport === 'websocket', 'the probe back to WebSocket before the stall')
          }
          const lost = nextStatus((e) => e.status === 'reconnecting', 'keepalive to notice the stall')
          proxy.stallAll()
          faults.stalls++
          stallDetections.push((await lost).reason)
          await reopened('stall')
          break
        }
        case 'restart': {
          const reset = new Promise<void>((resolve) => c.once('reset', () => resolve()))
          const port = server.port
          // Freeze the connection first and let the server send a little more, so the client is
          // behind when the server dies: those messages are the loss the reset announces.
          proxy.stallAll()
          const behind = Math.min(N, sent + step.behind)
          pauseAt = behind
          await until(() => sent >= behind, 30_000, 'the server to send past the stall')
          await server.close()
          await sleep(step.downMs)
          server = await startServer(serverOpts, port)
          wire(server)
          faults.restarts++
          let noReset: ReturnType<typeof setTimeout> | undefined
          await Promise.race([reset, new Promise((_, reject) => (noReset = setTimeout(() => reject(new Error('no reset event within 30 s of the restart')), 30_000)))])
          clearTimeout(noReset)
          await until(() => c.status === 'open', 30_000, 'the client to open after the restart')
          pauseAt = Math.max(pauseAt, nextAt)
          break
        }
      }
      log(`${step.kind} at ${step.at}: status ${c.status}/${c.transport}, got ${got.length}, server got ${received.flat().length}`)
    }

    pauseAt = N
    const last = () => Math.max(0, ...received.map((g) => g.at(-1) ?? 0))
    const complete = () => (got.at(-1) === N && last() === N && acked + sendErrors.length === N) || sendErrors.length > 0
    await until(complete, timeoutMs - (Date.now() - started), 'both streams to complete').catch(() => {
      const conns = server.realtime.connections.map((x) => x.transport ?? 'detached').join(',')
      throw new Error(
        `both streams did not complete: the client has ${got.at(-1)}/${N} (server sent ${sent}), the server has ${last()}/${N} ` +
          `(acked ${acked}, queued ${c.queued}); client ${c.status}/${c.transport}, server sessions [${conns}]; last status changes:\n  ${recent.join('\n  ')}`,
      )
    })
    faults.refusedUpgrades = proxy.stats.refused

    const cuts = [0, ...resets.map((x) => x.at), got.length]
    const s2c = analyze(
      cuts.slice(1).map((end, i) => got.slice(cuts[i], end)),
      N,
      true,
    )
    const c2s = analyze(received, N, false)
    if (sendErrors.length) c2s.problems.push(...sendErrors.slice(0, 5).map((e) => `send rejected: ${e}`))
    if (resets.length !== faults.restarts) {
      s2c.problems.push(`${resets.length} resets announced for ${faults.restarts} restarts: ${JSON.stringify(resets)}`)
    }
    return {
      seed,
      messages: N,
      durationMs: Date.now() - started,
      faults,
      serverToClient: s2c,
      clientToServer: c2s,
      client: {
        duplicatesSuppressed: c.stats.duplicates,
        resumes: c.stats.resumes,
        resets: c.stats.resets,
        attempts: c.stats.attempts,
        resetReasons: resets.map((x) => x.reason),
      },
      lossReasons,
      openReasons,
      stallDetections,
      clientErrors,
    }
  } finally {
    for (const t of timers) clearInterval(t)
    client?.close()
    await proxy.close()
    await server.close()
  }
}

/** One line per figure, for logs and docs. */
export function formatReport(r: ChaosReport): string {
  const d = (x: DirectionReport) =>
    `${x.delivered} delivered, ${x.lostAcrossReset} lost across the reset, ${x.repeatedAcrossReset} repeated across the reset, ${x.problems.length} problems`
  return [
    `chaos seed ${r.seed}: ${r.messages} messages each way in ${(r.durationMs / 1000).toFixed(1)} s`,
    `  faults: ${r.faults.drops} drops, ${r.faults.refuseWindows} refuse window (${r.faults.refusedUpgrades} upgrades refused), ${r.faults.stalls} stalls (${r.stallDetections.join(', ')}), ${r.faults.restarts} restart`,
    `  server → client: ${d(r.serverToClient)}`,
    `  client → server: ${d(r.clientToServer)}`,
    `  client: ${r.client.duplicatesSuppressed} duplicates suppressed, ${r.client.resumes} resumes, ${r.client.resets} resets (${r.client.resetReasons.join(', ')}), ${r.client.attempts} attempts`,
    `  losses: ${JSON.stringify(r.lossReasons)}  opens: ${JSON.stringify(r.openReasons)}`,
    ...(r.clientErrors.length ? [`  client errors (${r.clientErrors.length}): ${r.clientErrors.slice(0, 5).join(' | ')}`] : []),
  ].join('\n')
}
