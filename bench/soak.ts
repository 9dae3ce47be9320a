/**
 * Soak: M clients exchange sequenced messages with the reference server for K
 * minutes through the misbehaving test proxy, which drops every connection
 * periodically (and stalls them now and then). Reports, over time and at the end:
 * messages delivered, lost and duplicated in each direction, duplicates the clients
 * suppressed, resumes, and memory (heap, RSS) of this process (server + proxy +
 * clients). Not part of `npm test`.
 *
 *   npx tsx bench/soak.ts [--clients 50] [--minutes 2] [--rate 10] [--drop-every 10] [--stall-every 45] [--sse-share 0.5]
 *   node --expose-gc --import tsx bench/soak.ts …     heap figures after a full GC (otherwise whatever is live)
 *
 * --rate is messages per second per client, each way. Exits non-zero if anything
 * was lost or duplicated (nothing may be: sessions outlive every drop here).
 */
import { RealtimeClient, fullJitterBackoff } from '../src/index'
import { bearerToken, type Connection } from '../src/server'
import { startProxy } from '../test/support/proxy'
import { ClientMessage, ServerMessage } from '../test/support/schemas'
import { TestWebSocket, startServer } from '../test/support/servers'

function arg(name: string, fallback: number): number {
  const argv = process.argv.slice(2)
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`))
  if (i < 0) return fallback
  const raw = argv[i]!.includes('=') ? argv[i]!.split('=')[1] : argv[i + 1]
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) {
    console.error(`--${name} must be a non-negative number, got ${JSON.stringify(raw)}`)
    process.exit(2)
  }
  return n
}

const M = arg('clients', 50)
const MINUTES = arg('minutes', 2)
const RATE = arg('rate', 10)
const DROP_EVERY_S = arg('drop-every', 10)
const STALL_EVERY_S = arg('stall-every', 45)
const SSE_SHARE = arg('sse-share', 0.5)
const TICK_MS = 100
const perTick = RATE * (TICK_MS / 1000)

type Conn = Connection<typeof ClientMessage, typeof ServerMessage>

// ---------------------------------------------------------------- server side
const server = await startServer({
  heartbeatIntervalMs: 2_000, // replayWindow stays at its default (1,000 per session): memory plateaus
  authenticate: (req) => {
    const id = bearerToken(req)
    return id?.startsWith('client-') ? { id } : null
  },
})
const proxy = await startProxy({ targetPort: server.port })

interface ServerSide {
  conn: Conn | undefined
  sent: number
  received: number
  problems: string[]
}
const serverSide = new Map<string, ServerSide>()
server.realtime.on('connection', (conn) => {
  const id = (conn.user as { id: string }).id
  let s = serverSide.get(id)
  if (!s) serverSide.set(id, (s = { conn, sent: 0, received: 0, problems: [] }))
  else s.problems.push(`a second session for ${id}: the first one was lost`)
  s.conn = conn
  conn.on('message', (m) => {
    if (m.type !== 'count') return
    if (m.n !== s.received + 1) s.problems.push(`${id}: got ${m.n} after ${s.received}`)
    s.received = Math.max(s.received, m.n)
  })
})

// ---------------------------------------------------------------- clients
interface ClientSide {
  c: RealtimeClient<typeof ServerMessage, typeof ClientMessage>
  got: number
  sent: number
  acked: number
  lost: number
  duplicated: number
  refused: number
  resets: number
}
const clients: ClientSide[] = []
for (let i = 0; i < M; i++) {
  const id = `client-${i}`
  const c = new RealtimeClient({
    url: proxy.url('/realtime'),
    incoming: ServerMessage,
    outgoing: ClientMessage,
    WebSocket: TestWebSocket,
    transports: i < M * SSE_SHARE ? ['sse'] : ['websocket', 'sse'],
    token: () => id,
    storage: null,
    lifecycle: null,
    backoff: fullJitterBackoff(100, 5_000),
    pingIntervalMs: 2_000,
    pongTimeoutMs: 2_000,
  })
  const me: ClientSide = { c, got: 0, sent: 0, acked: 0, lost: 0, duplicated: 0, refused: 0, resets: 0 }
  c.onMessage('tick', (m) => {
    if (m.n <= me.got) me.duplicated++
    else if (m.n > me.got + 1) me.lost += m.n - me.got - 1
    me.got = Math.max(me.got, m.n)
  })
  c.on('reset', () => me.resets++)
  c.on('error', () => {})
  clients.push(me)
}
await Promise.all(clients.map((x) => x.c.connect()))

// ---------------------------------------------------------------- traffic and faults
let pumping = true
const pump = setInterval(() => {
  if (!pumping) return
  for (const s of serverSide.values()) {
    for (let k = 0; k < perTick; k++) void s.conn?.send({ type: 'tick', n: ++s.sent })
  }
  for (const me of clients) {
    if (me.c.queued > 500) continue
    for (let k = 0; k < perTick; k++) {
      const n = ++me.sent
      me.c.send({ type: 'count', n }).then(
        () => me.acked++,
        () => me.refused++,
      )
    }
  }
}, TICK_MS)

let drops = 0
let stalls = 0
const dropper = DROP_EVERY_S > 0 ? setInterval(() => (proxy.dropAll(), drops++), DROP_EVERY_S * 1000) : undefined
const staller = STALL_EVERY_S > 0 ? setInterval(() => (proxy.stallAll(), stalls++), STALL_EVERY_S * 1000) : undefined

const started = Date.now()
const gc = (globalThis as { gc?: () => void }).gc
const mb = (n: number) => (n / 1024 / 1024).toFixed(1)
const totals = () => {
  let delivered = 0
  let lost = 0
  let duplicated = 0
  let suppressed = 0
  let resumes = 0
  let resets = 0
  for (const me of clients) {
    delivered += me.got - me.lost
    lost += me.lost
    duplicated += me.duplicated
    suppressed += me.c.stats.duplicates
    resumes += me.c.stats.resumes
    resets += me.resets
  }
  let c2s = 0
  let c2sProblems = 0
  for (const s of serverSide.values()) {
    c2s += s.received
    c2sProblems += s.problems.length
  }
  return { delivered, lost, duplicated, suppressed, resumes, resets, c2s, c2sProblems }
}
console.log(`soak: ${M} clients (${Math.round(M * SSE_SHARE)} SSE-only), ${RATE} msg/s each way per client, ${MINUTES} min, drop every ${DROP_EVERY_S} s, stall every ${STALL_EVERY_S} s`)
console.log(`| t (s) | s→c delivered | lost | dup | c→s delivered | suppressed dups | resumes | drops | heap MB${gc ? ' (after GC)' : ''} | rss MB | sessions |`)
console.log('|---|---|---|---|---|---|---|---|---|---|---|')
const report = () => {
  gc?.()
  const t = totals()
  const mem = process.memoryUsage()
  console.log(
    `| ${((Date.now() - started) / 1000).toFixed(0)} | ${t.delivered} | ${t.lost} | ${t.duplicated} | ${t.c2s} | ${t.suppressed} | ${t.resumes} | ${drops} | ${mb(mem.heapUsed)} | ${mb(mem.rss)} | ${server.realtime.connections.length} |`,
  )
}
const reporter = setInterval(report, 10_000)

await new Promise((r) => setTimeout(r, MINUTES * 60_000))
pumping = false
clearInterval(dropper)
clearInterval(staller)

// ---------------------------------------------------------------- drain and check
const drainStart = Date.now()
const drained = () =>
  clients.every((me) => me.acked + me.refused === me.sent) &&
  [...serverSide.entries()].every(([id, s]) => clients[Number(id.slice(7))]!.got === s.sent)
while (!drained() && Date.now() - drainStart < 60_000) await new Promise((r) => setTimeout(r, 100))
clearInterval(pump)
clearInterval(reporter)
report()
const t = totals()
const sentS2c = [...serverSide.values()].reduce((n, s) => n + s.sent, 0)
const sentC2s = clients.reduce((n, me) => n + me.sent, 0)
const refused = clients.reduce((n, me) => n + me.refused, 0)
const problems = [...serverSide.values()].flatMap((s) => s.problems)
console.log(
  `\nserver → client: ${sentS2c} sent, ${t.delivered} delivered, ${t.lost} lost, ${t.duplicated} duplicated (${t.suppressed} duplicates suppressed by the clients)\n` +
    `client → server: ${sentC2s} sent, ${t.c2s} delivered, ${refused} refused by send(), ${t.c2sProblems} out of order or duplicated\n` +
    `${drops} drops, ${stalls} stalls, ${t.resumes} resumes, ${t.resets} resets; drained in ${((Date.now() - drainStart) / 1000).toFixed(1)} s` +
    (drained() ? '' : ' (NOT fully drained)'),
)
if (problems.length) console.log(`problems:\n  ${problems.slice(0, 20).join('\n  ')}`)
for (const me of clients) me.c.close()
await proxy.close()
await server.close()
process.exitCode = t.lost || t.duplicated || problems.length || t.delivered !== sentS2c || t.c2s !== sentC2s - refused || !drained() ? 1 : 0
