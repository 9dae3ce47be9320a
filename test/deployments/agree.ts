/**
 * The property every deployment suite checks: doctor's verdict (transport, exit code) equals what
 * the Node client does in the same setup. The client is run twice, like doctor:
 * - "browser-like": it sends the page's `Origin` the way browsers do (on the WebSocket handshake and
 *   on every POST, not on a same-origin SSE GET), against doctor's default (Origin = the URL's origin);
 * - "plain Node": no `Origin`, against doctor with `origin: false`.
 * Plus the no-storm check: attempts over 20 s of idle, with the backoff's ceiling schedule.
 */
import { expect } from 'vitest'
import { WebSocket } from 'ws'
import { RealtimeClient, type StatusEvent, type StatusReason, type WebSocketConstructor } from '../../src'
import { runDoctor, type DoctorOptions, type DoctorReport } from '../../src/cli/doctor'
import { ClientMessage, ServerMessage } from '../support/schemas'

type Client = RealtimeClient<typeof ServerMessage, typeof ClientMessage>
type Transport = 'websocket' | 'sse' | null

/** A `ws` WebSocket that sends `Origin` like a browser page on `origin`. */
function originWebSocket(origin: string): WebSocketConstructor {
  class OriginWebSocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { origin })
    }
  }
  return OriginWebSocket as unknown as WebSocketConstructor
}

/** fetch that adds `Origin` where browsers add it: every non-GET request (a same-origin GET carries none). */
function originFetch(origin: string): typeof fetch {
  return (input, init = {}) => {
    const method = (init.method ?? 'GET').toUpperCase()
    if (method === 'GET' || method === 'HEAD') return fetch(input, init)
    const headers = new Headers(init.headers)
    headers.set('Origin', origin)
    return fetch(input, { ...init, headers })
  }
}

export interface ClientRunOptions {
  /** Send Origin as a page on this origin would; undefined: a plain Node client (no Origin). */
  origin?: string
  transports?: ('websocket' | 'sse')[]
  /** How long the client gets to carry one echo both ways. @default 15_000 */
  boundMs?: number
}

/** The backoff's ceiling (full jitter's upper bound), so attempt counts are deterministic. */
export const ceilingBackoff = (attempt: number): number => Math.min(30_000, 500 * 2 ** Math.max(0, attempt - 1))

function makeClient(url: string, o: ClientRunOptions): Client {
  return new RealtimeClient({
    url,
    incoming: ServerMessage,
    outgoing: ClientMessage,
    WebSocket: o.origin ? originWebSocket(o.origin) : (WebSocket as unknown as WebSocketConstructor),
    ...(o.origin ? { fetch: originFetch(o.origin) } : {}),
    ...(o.transports ? { transports: o.transports } : {}),
    backoff: ceilingBackoff,
    storage: null,
    lifecycle: null,
  })
}

export interface ClientOutcome {
  /** The transport that carried an echo both ways within the bound; null when none did. */
  transport: Transport
  /** The reason on the first `open` (e.g. ws_refused), and ms from connect() to it. */
  openReason: StatusReason | null
  openMs: number | null
  /** ms from connect() to the echo coming back. */
  echoMs: number | null
  /** Set when the client stopped (`closed`) on its own, with the reason and the error code it gave. */
  closed: { reason: StatusReason; code?: string } | null
  statuses: StatusEvent[]
}

/** Connect, send one echo, and see whether it comes back (and on which transport) or the client stops. */
export async function clientOutcome(url: string, o: ClientRunOptions = {}): Promise<ClientOutcome> {
  const c = makeClient(url, o)
  const t0 = performance.now()
  const statuses: StatusEvent[] = []
  let openReason: StatusReason | null = null
  let openMs: number | null = null
  let errorCode: string | undefined
  c.on('error', (e) => (errorCode ??= (e as { serverCode?: string }).serverCode ?? (e as { code?: string }).code))
  const done = new Promise<ClientOutcome['closed'] | 'echo' | 'bound'>((resolve) => {
    const timer = setTimeout(() => resolve('bound'), o.boundMs ?? 15_000)
    c.on('status', (e) => {
      statuses.push(e)
      if (e.status === 'open' && openMs === null) {
        openMs = Math.round(performance.now() - t0)
        openReason = e.reason
      }
      if (e.status === 'closed') (clearTimeout(timer), resolve({ reason: e.reason, code: errorCode ?? (e.error as { serverCode?: string } | undefined)?.serverCode ?? (e.error as { code?: string } | undefined)?.code }))
    })
    c.on('message', (m) => {
      if (m.type === 'echo' && m.text === 'agree') (clearTimeout(timer), resolve('echo'))
    })
  })
  c.connect().catch(() => {})
  c.send({ type: 'echo', text: 'agree' }).catch(() => {})
  const end = await done
  const transport = end === 'echo' ? (c.transport as Transport) : null
  const echoMs = end === 'echo' ? Math.round(performance.now() - t0) : null
  c.close()
  return { transport, openReason, openMs, echoMs, closed: typeof end === 'object' ? end : null, statuses }
}

export interface IdleCount {
  /** Attempts started in the window: every `connecting` status (connect(), each retry, each auth retry). */
  attempts: number
  /** The client's own count (fallbacks and probes included). */
  statsAttempts: number
  reasons: string
}

/** Connect and stay idle for `windowMs`, counting attempts (the storm check). */
export async function idleAttempts(url: string, o: ClientRunOptions = {}, windowMs = 20_000): Promise<IdleCount> {
  const c = makeClient(url, o)
  const statuses: StatusEvent[] = []
  c.on('status', (e) => statuses.push(e))
  c.on('error', () => {})
  c.connect().catch(() => {})
  await new Promise((r) => setTimeout(r, windowMs))
  // Every attempt starts with `connecting` (a storm of open → refused → open never says `reconnecting`).
  const started = statuses.filter((e) => e.status === 'connecting')
  const retries = started.slice(1)
  const result = { attempts: Math.max(1, started.length), statsAttempts: c.stats.attempts, reasons: [...new Set(retries.map((e) => e.reason))].join(', ') || '-' }
  c.close()
  return result
}

/**
 * Attempts the ceiling schedule allows in `windowMs` (500, 1000, 2000, … ms), plus one cut per
 * `healthyAfterMs` (5 s) for a connection a proxy cuts while open, plus the first attempt.
 */
export function scheduleBound(windowMs = 20_000): number {
  let t = 0
  let n = 1
  for (let a = 1; t + ceilingBackoff(a) <= windowMs; a++) (t += ceilingBackoff(a)), n++
  return n + Math.ceil(windowMs / 5_000)
}

export interface Agreement {
  doctor: DoctorReport
  client: ClientOutcome
}

/** Run doctor and the client in the same setup, browser-like (Origin) or plain Node, and check they agree. */
export async function agree(url: string, mode: 'browser' | 'node', extra: { doctor?: DoctorOptions; client?: ClientRunOptions } = {}): Promise<Agreement> {
  const origin = new URL(url).origin
  const [doctor, client] = await Promise.all([
    runDoctor(url, { timeoutMs: 5_000, ...(mode === 'node' ? { origin: false } : {}), ...extra.doctor }),
    clientOutcome(url, { ...(mode === 'browser' ? { origin } : {}), ...extra.client }),
  ])
  const why = `doctor: ${doctor.verdict} (cause ${doctor.cause}); client: transport ${client.transport}, open ${client.openReason}, closed ${JSON.stringify(client.closed)}`
  expect(doctor.transport, why).toBe(client.transport)
  expect(doctor.ok, why).toBe(client.transport !== null)
  return { doctor, client }
}

/** One row of the table the issue asks for. */
export interface Row {
  setup: string
  mode: 'browser' | 'node' | 'node, sse only' | 'chromium'
  transport: string
  reason: string
  openMs: string
  attempts20s: string
  doctor: string
}

export function row(setup: string, mode: Row['mode'], a: Agreement, idle?: IdleCount): Row {
  const { doctor: d, client: c } = a
  return {
    setup,
    mode,
    transport: c.transport ?? 'none',
    reason: c.transport ? String(c.openReason) : c.closed ? `closed: ${c.closed.reason}${c.closed.code ? ` (${c.closed.code})` : ''}` : String(c.statuses.filter((e) => e.reason !== 'closed_by_client').at(-1)?.reason ?? '-'),
    openMs: c.transport === null || c.openMs === null ? '-' : String(c.openMs),
    attempts20s: idle ? `${idle.attempts} (${idle.reasons})` : '-',
    doctor: `${d.transport ?? 'none'} / ${d.cause ?? '-'} / exit ${d.ok ? 0 : 1}`,
  }
}

export function printTable(title: string, rows: Row[]): void {
  const header = ['setup', 'client', 'transport', 'reason', 'open ms', 'attempts in 20 s idle', 'doctor (transport / cause / exit)']
  const lines = rows.map((r) => [r.setup, r.mode, r.transport, r.reason, r.openMs, r.attempts20s, r.doctor])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const fmt = (l: string[]) => '| ' + l.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |'
  console.log([title, fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n'))
}
