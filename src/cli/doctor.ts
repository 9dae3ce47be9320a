/**
 * `surewire doctor <url>`: probe a deployment the way clients will use it and say which
 * transport they will get, and for every failure the most likely cause and its fix.
 *
 * Probes, in order, each timed: DNS, TCP, TLS (https), plain HTTP to the endpoint, the
 * raw WebSocket handshake (status line, Server header), surewire hello + ping on
 * WebSocket, the SSE stream (time to headers / first byte / hello; live or held back),
 * a POST round trip, CORS preflight for `origin`, and optionally an idle period to find
 * a proxy's read timeout.
 */
import { lookup } from 'node:dns/promises'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import { createParser } from 'eventsource-parser'
import { WebSocket } from 'ws'
import { PROTOCOL_VERSION, QUERY } from '../protocol'
import { resolveEndpoints, withQuery, type EndpointPaths } from '../client/url'
import { bufferingFixes, corsFixes, idleFixes, pathFixes, upgradeFixes, type Fix } from './fixes'

export interface DoctorOptions {
  /** The page origin browsers connect from, e.g. https://app.example.com (CORS + mixed content checks). */
  origin?: string
  /** Token sent like the client does (WebSocket `access_token`, SSE/POST `Authorization: Bearer`). */
  token?: string
  paths?: EndpointPaths
  /** Bound for each probe. @default 5_000 */
  timeoutMs?: number
  /** Keep a WebSocket and the SSE stream idle this long to find a proxy's idle timeout (0: skip). @default 0 */
  idleMs?: number
}

export type ProbeName = 'dns' | 'tcp' | 'tls' | 'http' | 'websocket' | 'ws-hello' | 'sse' | 'post' | 'cors' | 'origin' | 'idle'

export interface Probe {
  name: ProbeName
  /** null: skipped (with the reason in `detail`). */
  ok: boolean | null
  ms?: number
  detail: string
}

/** Named causes: what doctor believes is wrong. */
export type Cause =
  | 'dns_failed'
  | 'tcp_failed'
  | 'tls_failed'
  | 'upgrade_headers_dropped'
  | 'ws_not_offered'
  | 'ws_blocked'
  | 'ws_no_hello'
  | 'ws_no_pong'
  | 'path_not_routed'
  | 'ws_path_not_routed'
  | 'sse_path_not_routed'
  | 'bad_gateway'
  | 'auth_required'
  | 'origin_forbidden'
  | 'not_surewire'
  | 'sse_buffered'
  | 'sse_failed'
  | 'post_failed'
  | 'cors_missing'
  | 'mixed_content'
  | 'proxy_idle_timeout'

export interface Finding {
  cause: Cause
  /** error: this breaks a transport (or all of them); warn: works, but degraded; info: worth knowing. */
  severity: 'error' | 'warn' | 'info'
  message: string
  fixes: Fix[]
}

export interface DoctorReport {
  url: string
  endpoints: { websocket: string; sse: string; post: string }
  probes: Probe[]
  /** The transport clients will end up on, or null when none works. */
  transport: 'websocket' | 'sse' | null
  /** True when browsers/clients get a working transport (the CLI's exit code 0). */
  ok: boolean
  /** The most likely cause of the worst problem, when there is one. */
  cause: Cause | null
  verdict: string
  findings: Finding[]
}

interface HttpResult {
  status?: number
  statusText?: string
  headers: http.IncomingHttpHeaders
  body: string
  ms: number
  error?: string
}

const now = () => performance.now()
const round = (ms: number) => Math.round(ms)
const SUREWIRE_426 = /WebSocket handshake arrived without the Upgrade header/
const SSE_ONLY_426 = /serves SSE \+ POST only/

function describeServer(h: http.IncomingHttpHeaders): string {
  return typeof h.server === 'string' ? ` (Server: ${h.server})` : ''
}

/** One HTTP request with a bound; the body is read up to 4 KB. */
function request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string }, timeoutMs: number): Promise<HttpResult> {
  const u = new URL(url)
  const mod = u.protocol === 'https:' ? https : http
  const t0 = now()
  return new Promise((resolve) => {
    let settled = false
    const done = (r: Omit<HttpResult, 'ms'>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      resolve({ ...r, ms: round(now() - t0) })
    }
    const req = mod.request(u, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        if (body.length < 4096) body += c
      })
      const finish = () => done({ status: res.statusCode, statusText: res.statusMessage, headers: res.headers, body })
      res.on('end', finish)
      res.on('error', finish)
      res.on('close', finish)
    })
    const timer = setTimeout(() => done({ headers: {}, body: '', error: `no response within ${timeoutMs} ms` }), timeoutMs)
    req.on('error', (err) => done({ headers: {}, body: '', error: err.message }))
    req.end(init.body)
  })
}

interface WsResult {
  probe: Probe
  hello?: Probe
  status?: number
  headers: http.IncomingHttpHeaders
  body: string
  error?: string
  sid?: string
  hb?: number
  socket?: WebSocket
}

function probeWebSocket(url: string, headers: Record<string, string>, timeoutMs: number): Promise<WsResult> {
  const t0 = now()
  return new Promise((resolve) => {
    let settled = false
    let upgradedAt: number | undefined
    let helloAt: number | undefined
    let pingAt = 0
    const result: WsResult = { probe: { name: 'websocket', ok: false, detail: '' }, headers: {}, body: '' }
    const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs, perMessageDeflate: false, followRedirects: false })
    const settle = (keepOpen = false) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (keepOpen) result.socket = ws
      else ws.terminate()
      resolve(result)
    }
    ws.on('error', (err) => {
      if (upgradedAt === undefined && result.status === undefined) {
        result.error = err.message
        result.probe = { name: 'websocket', ok: false, ms: round(now() - t0), detail: `handshake failed: ${err.message}` }
      }
      settle()
    })
    ws.on('upgrade', (res) => {
      upgradedAt = now()
      result.status = res.statusCode
      result.headers = res.headers
      result.probe = { name: 'websocket', ok: true, ms: round(upgradedAt - t0), detail: `101 Switching Protocols${describeServer(res.headers)}` }
    })
    ws.on('unexpected-response', (req, res) => {
      result.status = res.statusCode
      result.headers = res.headers
      const ms = round(now() - t0)
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        if (result.body.length < 4096) result.body += c
      })
      const end = () => {
        result.probe = {
          name: 'websocket',
          ok: false,
          ms,
          detail: `${res.statusCode} ${res.statusMessage ?? ''}${describeServer(res.headers)} instead of 101`.replace('  ', ' '),
        }
        req.on('error', () => {})
        req.destroy()
        settle()
      }
      res.on('end', end)
      res.on('error', end)
    })
    ws.on('message', (data, binary) => {
      let f: { t?: unknown; sid?: unknown; hb?: unknown } | undefined
      try {
        f = binary ? undefined : (JSON.parse(data.toString()) as typeof f)
      } catch {
        f = undefined
      }
      if (helloAt === undefined) {
        helloAt = now()
        if (f?.t !== 'hello' || typeof f.sid !== 'string') {
          result.hello = { name: 'ws-hello', ok: false, ms: round(helloAt - (upgradedAt ?? t0)), detail: `first message is not a surewire hello: ${data.toString().slice(0, 120)}` }
          return settle()
        }
        result.sid = f.sid
        result.hb = typeof f.hb === 'number' ? f.hb : undefined
        pingAt = now()
        ws.send(JSON.stringify({ t: 'ping', n: 1 }))
        return
      }
      if (f?.t === 'pong') {
        const rtt = round(now() - pingAt)
        result.hello = { name: 'ws-hello', ok: true, detail: `hello after ${round(helloAt - (upgradedAt ?? t0))} ms (hb ${result.hb} ms), ping → pong ${rtt} ms` }
        settle(true)
      }
    })
    ws.on('close', (code, reason) => {
      if (upgradedAt !== undefined && !result.hello) {
        result.hello = { name: 'ws-hello', ok: false, detail: `closed with ${code} ${reason.toString()} before ${helloAt ? 'the pong' : 'a hello'}` }
      }
      settle()
    })
    const timer = setTimeout(() => {
      if (upgradedAt !== undefined) {
        result.hello = { name: 'ws-hello', ok: false, detail: helloAt ? `hello, but no pong within ${timeoutMs} ms` : `101, but no hello within ${timeoutMs} ms` }
      } else if (result.status === undefined && !result.error) {
        result.error = `no handshake response within ${timeoutMs} ms`
        result.probe = { name: 'websocket', ok: false, ms: timeoutMs, detail: `no handshake response within ${timeoutMs} ms` }
      }
      settle()
    }, timeoutMs + 50)
  })
}

interface SseResult {
  probe: Probe
  status?: number
  headers: http.IncomingHttpHeaders
  body: string
  /** Response headers arrived / first byte / first event, ms from the request. */
  headersMs?: number
  firstByteMs?: number
  helloMs?: number
  sid?: string
  hb?: number
  /** Events that came in the same chunk as the hello (a lump means something held them back). */
  eventsInFirstChunk: number
  error?: string
  /** Still-open stream (for the idle probe) and how it ended. */
  ended?: Promise<{ afterMs: number; lastEventAgoMs: number }>
  close?: () => void
}

function probeSse(url: string, headers: Record<string, string>, timeoutMs: number, keepOpen: boolean): Promise<SseResult> {
  const u = new URL(url)
  const mod = u.protocol === 'https:' ? https : http
  const t0 = now()
  return new Promise((resolve) => {
    const result: SseResult = { probe: { name: 'sse', ok: false, detail: '' }, headers: {}, body: '', eventsInFirstChunk: 0 }
    let settled = false
    let lastEventAt = now()
    let resolveEnded: (v: { afterMs: number; lastEventAgoMs: number }) => void = () => {}
    const settle = (open = false) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (open) {
        const openedAt = now()
        result.ended = new Promise((r) => (resolveEnded = r))
        result.close = () => req.destroy()
        req.on('close', () => resolveEnded({ afterMs: round(now() - openedAt), lastEventAgoMs: round(now() - lastEventAt) }))
      } else req.destroy()
      resolve(result)
    }
    const req = mod.request(u, { headers: { ...headers, Accept: 'text/event-stream' }, agent: false }, (res) => {
      result.headersMs = round(now() - t0)
      result.status = res.statusCode
      result.headers = res.headers
      const type = String(res.headers['content-type'] ?? '')
      if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          if (result.body.length < 4096) result.body += c
        })
        const end = () => {
          result.probe = { name: 'sse', ok: false, ms: result.headersMs, detail: `${res.statusCode} ${type || '(no content-type)'}${describeServer(res.headers)}` }
          settle()
        }
        res.on('end', end)
        res.on('error', end)
        return
      }
      let chunks = 0
      let inChunk = 0
      const parser = createParser({
        onEvent(ev) {
          lastEventAt = now()
          inChunk++
          if (result.helloMs !== undefined) return
          result.helloMs = round(now() - t0)
          try {
            const f = JSON.parse(ev.data) as { t?: unknown; sid?: unknown; hb?: unknown }
            if (f.t === 'hello' && typeof f.sid === 'string') {
              result.sid = f.sid
              result.hb = typeof f.hb === 'number' ? f.hb : undefined
            }
          } catch {
            /* not JSON: reported below */
          }
        },
      })
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        chunks++
        if (result.firstByteMs === undefined) result.firstByteMs = round(now() - t0)
        inChunk = 0
        parser.feed(c)
        if (chunks === 1) result.eventsInFirstChunk = inChunk
        if (result.helloMs !== undefined && !settled) {
          const lump = result.eventsInFirstChunk > 3 || result.helloMs - (result.headersMs ?? 0) > 1_000
          const live = lump ? `held back: ${result.eventsInFirstChunk} events in the first chunk` : 'live'
          result.probe = result.sid
            ? { name: 'sse', ok: !lump, ms: result.helloMs, detail: `200 text/event-stream, headers ${result.headersMs} ms, first byte ${result.firstByteMs} ms, hello ${result.helloMs} ms (hb ${result.hb} ms), ${live}` }
            : { name: 'sse', ok: false, ms: result.helloMs, detail: 'a stream, but its first event is not a surewire hello' }
          settle(keepOpen && result.probe.ok === true)
        }
      })
      res.on('end', () => {
        if (!settled) {
          result.probe = { name: 'sse', ok: false, ms: round(now() - t0), detail: `stream ended after ${round(now() - t0)} ms without a hello` }
          settle()
        }
      })
    })
    req.on('error', (err) => {
      if (settled) return
      result.error = err.message
      result.probe = { name: 'sse', ok: false, ms: round(now() - t0), detail: `request failed: ${err.message}` }
      settle()
    })
    req.end()
    const timer = setTimeout(() => {
      result.probe = {
        name: 'sse',
        ok: false,
        ms: timeoutMs,
        detail:
          result.headersMs === undefined
            ? `no response (not even headers) within ${timeoutMs} ms`
            : `200 text/event-stream after ${result.headersMs} ms, then no event within ${timeoutMs} ms`,
      }
      settle()
    }, timeoutMs)
  })
}

async function timed<T>(fn: () => Promise<T>): Promise<[T | Error, number]> {
  const t0 = now()
  try {
    return [await fn(), round(now() - t0)]
  } catch (err) {
    return [err instanceof Error ? err : new Error(String(err)), round(now() - t0)]
  }
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port })
    const timer = setTimeout(() => (s.destroy(), reject(new Error(`no TCP connection within ${timeoutMs} ms`))), timeoutMs)
    s.once('connect', () => (clearTimeout(timer), s.destroy(), resolve()))
    s.once('error', (e) => (clearTimeout(timer), reject(e)))
  })
}

function tlsConnect(host: string, port: number, servername: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, servername: net.isIP(servername) ? undefined : servername, rejectUnauthorized: false })
    const timer = setTimeout(() => (s.destroy(), reject(new Error(`no TLS handshake within ${timeoutMs} ms`))), timeoutMs)
    s.once('secureConnect', () => {
      clearTimeout(timer)
      const cert = s.getPeerCertificate()
      const authorized = s.authorized
      const why = s.authorizationError
      s.destroy()
      if (!authorized) return reject(new Error(`certificate not trusted: ${String(why)} (subject ${cert?.subject?.CN ?? '?'})`))
      resolve(`${s.getProtocol() ?? 'TLS'}, certificate for ${cert?.subject?.CN ?? '?'} valid until ${cert?.valid_to ?? '?'}`)
    })
    s.once('error', (e) => (clearTimeout(timer), reject(e)))
  })
}

/** Probe a deployment. Never throws for network trouble: that is what the report is for. */
export async function runDoctor(target: string, options: DoctorOptions = {}): Promise<DoctorReport> {
  const timeoutMs = options.timeoutMs ?? 5_000
  const ep = resolveEndpoints(target, options.paths)
  const probes: Probe[] = []
  const findings: Finding[] = []
  const add = (f: Finding) => findings.push(f)
  const path = ep.sse.pathname
  const httpUrl = ep.sse
  const host = httpUrl.hostname.replace(/^\[|\]$/g, '')
  const port = Number(httpUrl.port || (httpUrl.protocol === 'https:' ? 443 : 80))
  const report = (transport: DoctorReport['transport']): DoctorReport => finish(target, ep, probes, findings, transport)

  // ---- origin / mixed content (no network)
  let crossOrigin = false
  if (options.origin) {
    const page = new URL(options.origin)
    crossOrigin = page.origin !== httpUrl.origin
    if (page.protocol === 'https:' && (ep.websocket.protocol === 'ws:' || httpUrl.protocol === 'http:')) {
      probes.push({ name: 'origin', ok: false, detail: `page ${page.origin} is https but the endpoint is ${ep.websocket.protocol}// / ${httpUrl.protocol}//` })
      add({
        cause: 'mixed_content',
        severity: 'error',
        message: `Browsers block ws:// and http:// from an https:// page (mixed content). Use https://${httpUrl.host}${path} (surewire derives wss:// from it), or a relative URL such as "${path}".`,
        fixes: [{ where: 'client', snippet: `new RealtimeClient({ url: '${path}', … })  // resolved against the page: https → wss` }],
      })
    } else {
      probes.push({ name: 'origin', ok: true, detail: crossOrigin ? `cross-origin: page ${page.origin} → ${httpUrl.origin} (CORS needed)` : 'same origin as the page' })
    }
  }

  // ---- DNS, TCP, TLS
  const [addr, dnsMs] = await timed(() =>
    Promise.race([lookup(host), new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref())]),
  )
  if (addr instanceof Error) {
    probes.push({ name: 'dns', ok: false, ms: dnsMs, detail: addr.message })
    add({ cause: 'dns_failed', severity: 'error', message: `${host} does not resolve: ${addr.message}. Check the hostname baked into the client build.`, fixes: [] })
    return report(null)
  }
  probes.push({ name: 'dns', ok: true, ms: dnsMs, detail: `${host} → ${addr.address}` })
  const [tcp, tcpMs] = await timed(() => tcpConnect(addr.address, port, timeoutMs))
  if (tcp instanceof Error) {
    probes.push({ name: 'tcp', ok: false, ms: tcpMs, detail: `${addr.address}:${port}: ${tcp.message}` })
    add({ cause: 'tcp_failed', severity: 'error', message: `Nothing accepts connections on ${addr.address}:${port} (${tcp.message}). Wrong port in the client's URL, or the server/proxy is down.`, fixes: [] })
    return report(null)
  }
  probes.push({ name: 'tcp', ok: true, ms: tcpMs, detail: `${addr.address}:${port}` })
  if (httpUrl.protocol === 'https:') {
    const [t, tlsMs] = await timed(() => tlsConnect(addr.address, port, host, timeoutMs))
    if (t instanceof Error) {
      probes.push({ name: 'tls', ok: false, ms: tlsMs, detail: t.message })
      add({ cause: 'tls_failed', severity: 'error', message: `TLS to ${host}:${port} failed: ${t.message}`, fixes: [] })
      return report(null)
    }
    probes.push({ name: 'tls', ok: true, ms: tlsMs, detail: t })
  } else probes.push({ name: 'tls', ok: null, detail: 'not https' })

  // ---- plain HTTP reachability
  const common: Record<string, string> = options.origin ? { Origin: new URL(options.origin).origin } : {}
  const auth: Record<string, string> = options.token ? { Authorization: `Bearer ${options.token}` } : {}
  const plain = await request(httpUrl.href, { headers: { ...common } }, timeoutMs)
  probes.push(
    plain.status === undefined
      ? { name: 'http', ok: false, ms: plain.ms, detail: `GET ${path}: ${plain.error}` }
      : { name: 'http', ok: plain.status < 500, ms: plain.ms, detail: `GET ${path} → ${plain.status} ${String(plain.headers['content-type'] ?? '')}${describeServer(plain.headers)}`.trim() },
  )

  // ---- WebSocket handshake, hello, ping
  const wsUrl = withQuery(ep.websocket, { [QUERY.version]: PROTOCOL_VERSION, [QUERY.token]: options.token })
  const ws = await probeWebSocket(wsUrl, common, timeoutMs)
  probes.push({ ...ws.probe, detail: `GET ${ep.websocket.pathname} (Upgrade: websocket) → ${ws.probe.detail}` })
  probes.push(ws.hello ?? { name: 'ws-hello', ok: null, detail: 'skipped: no WebSocket' })
  const wsOk = ws.hello?.ok === true
  if (ws.sid && ws.socket && !options.idleMs) {
    ws.socket.send(JSON.stringify({ t: 'bye' }))
    ws.socket.close(1000, 'doctor done')
  }

  // ---- SSE
  const sseUrl = withQuery(ep.sse, { [QUERY.version]: PROTOCOL_VERSION })
  const sse = await probeSse(sseUrl, { ...common, ...auth }, timeoutMs, !!options.idleMs)
  probes.push({ ...sse.probe, detail: `GET ${path} (Accept: text/event-stream) → ${sse.probe.detail}` })
  const sseOk = sse.probe.ok === true

  // ---- POST round trip (on the SSE session, else the WebSocket's: sessions span transports)
  const sid = sse.sid ?? ws.sid
  let postOk = false
  if (sid) {
    const t0 = now()
    const r = await request(withQuery(ep.post, { [QUERY.version]: PROTOCOL_VERSION, [QUERY.session]: sid }), { method: 'POST', headers: { ...common, ...auth, 'Content-Type': 'application/json' }, body: '[{"t":"ping","n":1}]' }, timeoutMs)
    let pong = false
    try {
      pong = r.status === 200 && (JSON.parse(r.body) as { t?: string }[]).some((f) => f.t === 'pong')
    } catch {
      pong = false
    }
    postOk = pong
    probes.push({
      name: 'post',
      ok: pong,
      ms: round(now() - t0),
      detail: r.status === undefined ? `POST ${ep.post.pathname}: ${r.error}` : `POST ${ep.post.pathname} → ${r.status}${pong ? ', pong' : `: ${r.body.slice(0, 120)}`}${describeServer(r.headers)}`,
    })
    if (!pong) {
      add({
        cause: 'post_failed',
        severity: sseOk && !wsOk ? 'error' : 'warn',
        message: `A POST to ${ep.post.pathname} with a valid session did not get a pong (${r.status ?? r.error}). SSE clients cannot send. If SSE and POST go to different backends, they must share sessions (one process, or the Redis backplane).`,
        fixes: r.status === 404 ? pathFixes(ep.post.pathname) : [],
      })
    }
  } else probes.push({ name: 'post', ok: null, detail: 'skipped: no session (neither WebSocket nor SSE said hello)' })

  // ---- CORS
  if (options.origin && crossOrigin) {
    const origin = new URL(options.origin).origin
    const pre = await request(ep.post.href, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type, last-event-id' } }, timeoutMs)
    const acao = String(pre.headers['access-control-allow-origin'] ?? '')
    const allowHeaders = String(pre.headers['access-control-allow-headers'] ?? '').toLowerCase()
    const ok = pre.status !== undefined && pre.status < 300 && (acao === origin || acao === '*') && (allowHeaders.includes('content-type') || allowHeaders === '*')
    probes.push({ name: 'cors', ok, ms: pre.ms, detail: `OPTIONS ${ep.post.pathname} from ${origin} → ${pre.status ?? pre.error}, Allow-Origin: ${acao || '(none)'}, Allow-Headers: ${allowHeaders || '(none)'}` })
    if (!ok || ws.status === 403) {
      add({
        cause: 'cors_missing',
        severity: 'error',
        message: `The server does not allow the page origin ${origin}: browsers will block ${!ok ? 'SSE and POST (CORS preflight failed)' : ''}${!ok && ws.status === 403 ? ' and ' : ''}${ws.status === 403 ? 'the WebSocket (403 on Origin)' : ''}.`,
        fixes: corsFixes(origin),
      })
    }
  } else probes.push({ name: 'cors', ok: null, detail: options.origin ? 'same origin: no CORS needed' : 'skipped: pass --origin <page origin> to check' })

  // ---- diagnosis of the WebSocket failure
  const is404 = (s?: number) => s === 404
  if (!wsOk) {
    if (ws.status === 426 && SSE_ONLY_426.test(ws.body)) {
      add({
        cause: 'ws_not_offered',
        severity: sseOk ? 'info' : 'error',
        message: `This endpoint serves SSE + POST only (a platform without WebSocket upgrades, e.g. a route handler). Clients use SSE + POST by design; pass \`transports: ['sse']\` to skip the WebSocket attempt.`,
        fixes: [],
      })
    } else if (ws.status === 426 || ws.status === 400) {
      const surewire = SUREWIRE_426.test(ws.body)
      const by = typeof ws.headers.server === 'string' ? ws.headers.server : undefined
      add({
        cause: 'upgrade_headers_dropped',
        severity: sseOk ? 'warn' : 'error',
        message:
          (surewire
            ? `The WebSocket handshake reached the surewire server without its Upgrade header (it answered ${ws.status})`
            : `The WebSocket handshake was refused with ${ws.status}${by ? ` by ${by}` : ''}`) +
          `: a proxy in front${by ? ` (${by})` : ''} does not forward \`Upgrade\`/\`Connection\`` +
          (surewire ? '. ' : ', or the server on this path does not take WebSocket upgrades at all (then pass `transports: [\'sse\']` to clients). ') +
          (sseOk ? 'Clients fall back to SSE + POST (works, one more hop per message and no WebSocket).' : 'Clients cannot use WebSocket.'),
        fixes: upgradeFixes(ep.websocket.pathname),
      })
    } else if (is404(ws.status) && is404(sse.status)) {
      add({
        cause: 'path_not_routed',
        severity: 'error',
        message: `${ep.websocket.pathname} answered 404${describeServer(ws.headers)} for both WebSocket and SSE: nothing serves this path. The proxy's location does not match it (a path-prefix mistake), or the client's URL points at the wrong path.`,
        fixes: pathFixes(path),
      })
    } else if (is404(ws.status)) {
      add({ cause: 'ws_path_not_routed', severity: sseOk ? 'warn' : 'error', message: `The WebSocket path ${ep.websocket.pathname} answered 404${describeServer(ws.headers)}: it is not routed to the realtime server.`, fixes: pathFixes(ep.websocket.pathname) })
    } else if (ws.status === 401 || ws.status === 403) {
      if (ws.status === 403 && options.origin && crossOrigin) {
        if (!findings.some((f) => f.cause === 'cors_missing')) add({ cause: 'origin_forbidden', severity: 'error', message: `The WebSocket handshake from ${options.origin} was refused with 403: the server does not allow this origin.`, fixes: corsFixes(new URL(options.origin).origin) })
      } else add({ cause: 'auth_required', severity: 'error', message: `The WebSocket handshake was refused with ${ws.status}: pass --token to probe as a signed-in client.`, fixes: [] })
    } else if (ws.status && ws.status >= 500) {
      add({ cause: 'bad_gateway', severity: sseOk ? 'warn' : 'error', message: `The WebSocket handshake got ${ws.status}${describeServer(ws.headers)}: the proxy could not reach the backend (down, wrong upstream port, or it closed the upgraded connection).`, fixes: [] })
    } else if (ws.status === 101 || ws.probe.ok) {
      add({
        cause: ws.hello?.detail.includes('not a surewire hello') ? 'not_surewire' : ws.hello?.detail.includes('no pong') ? 'ws_no_pong' : 'ws_no_hello',
        severity: sseOk ? 'warn' : 'error',
        message: `The WebSocket upgraded (101) but ${ws.hello?.detail ?? 'no hello came'}: something between the client and the server swallows frames, or this is not a surewire endpoint.`,
        fixes: [],
      })
    } else if (ws.status !== undefined) {
      add({ cause: 'ws_blocked', severity: sseOk ? 'warn' : 'error', message: `The WebSocket handshake got ${ws.status}${describeServer(ws.headers)} instead of 101 (a proxy or the app answered it as a plain request).`, fixes: upgradeFixes(ep.websocket.pathname) })
    } else {
      add({ cause: 'ws_blocked', severity: sseOk ? 'warn' : 'error', message: `The WebSocket handshake failed: ${ws.error}. A proxy that holds upgrades open, or a network that blocks them.`, fixes: upgradeFixes(ep.websocket.pathname) })
    }
  }

  // ---- diagnosis of the SSE failure
  if (!sseOk && !findings.some((f) => f.cause === 'path_not_routed')) {
    const answered = plain.status !== undefined || ws.status !== undefined
    if (sse.status === 200 && String(sse.headers['content-type'] ?? '').startsWith('text/event-stream') && sse.probe.detail.includes('held back')) {
      add({ cause: 'sse_buffered', severity: wsOk ? 'warn' : 'error', message: `SSE events arrive in a lump (${sse.eventsInFirstChunk} in the first chunk, hello after ${sse.helloMs} ms): a proxy buffers the stream.`, fixes: bufferingFixes(path) })
    } else if ((sse.status === undefined && !sse.error && answered) || (sse.status === 200 && sse.helloMs === undefined && !sse.probe.detail.includes('ended'))) {
      add({
        cause: 'sse_buffered',
        severity: wsOk ? 'warn' : 'error',
        message:
          `The SSE request got ${sse.headersMs === undefined ? 'no response at all' : 'its headers but no event'} within ${timeoutMs} ms, while the same server answered ` +
          `${ws.status !== undefined ? `the WebSocket handshake in ${ws.probe.ms} ms` : `a plain GET in ${plain.ms} ms`}: a proxy is buffering the stream` +
          `${typeof plain.headers.server === 'string' ? ` (${plain.headers.server})` : ''}. surewire clients report this as \`sse_buffered\` and keep retrying.`,
        fixes: bufferingFixes(path),
      })
    } else if (is404(sse.status)) {
      add({ cause: 'sse_path_not_routed', severity: wsOk ? 'warn' : 'error', message: `The SSE path ${path} answered 404${describeServer(sse.headers)}: not routed to the realtime server.`, fixes: pathFixes(path) })
    } else if (sse.status === 401 || sse.status === 403) {
      if (!findings.some((f) => f.cause === 'auth_required' || f.cause === 'cors_missing' || f.cause === 'origin_forbidden')) {
        add({ cause: sse.status === 403 && options.origin ? 'origin_forbidden' : 'auth_required', severity: 'error', message: `The SSE request was refused with ${sse.status}${options.token ? '' : ': pass --token to probe as a signed-in client'}.`, fixes: [] })
      }
    } else if (sse.status && sse.status >= 500) {
      if (!findings.some((f) => f.cause === 'bad_gateway')) add({ cause: 'bad_gateway', severity: wsOk ? 'warn' : 'error', message: `The SSE request got ${sse.status}${describeServer(sse.headers)}: the proxy could not reach the backend.`, fixes: [] })
    } else {
      add({
        cause: sse.status === 200 ? 'not_surewire' : 'sse_failed',
        severity: wsOk ? 'warn' : 'error',
        message: `SSE does not work: ${sse.probe.detail}${/text\/html/.test(String(sse.headers['content-type'])) ? ' — an HTML page: probably the app\'s catch-all route answers this path' : ''}.`,
        fixes: sse.status === 200 ? pathFixes(path) : [],
      })
    }
  }

  // ---- idle: does a proxy cut quiet connections?
  if (options.idleMs) {
    const idleMs = options.idleMs
    const wsCut = new Promise<number | undefined>((resolve) => {
      const sock = ws.socket
      if (!sock) return resolve(undefined)
      const t0 = now()
      const timer = setTimeout(() => resolve(undefined), idleMs)
      sock.once('close', () => (clearTimeout(timer), resolve(round(now() - t0))))
    })
    const sseCut = new Promise<{ afterMs: number; lastEventAgoMs: number } | undefined>((resolve) => {
      if (!sse.ended) return resolve(undefined)
      const timer = setTimeout(() => resolve(undefined), idleMs)
      void sse.ended.then((v) => (clearTimeout(timer), resolve(v)))
    })
    const [wsAfter, sseAfter] = await Promise.all([wsCut, sseCut])
    if (ws.socket) {
      ws.socket.removeAllListeners('close')
      if (ws.socket.readyState === WebSocket.OPEN) ws.socket.send(JSON.stringify({ t: 'bye' }))
      ws.socket.terminate()
    }
    sse.close?.()
    const hb = ws.hb ?? sse.hb
    const parts = [
      ws.socket ? (wsAfter === undefined ? `idle WebSocket still open after ${idleMs} ms` : `idle WebSocket cut after ${wsAfter} ms`) : 'no WebSocket to hold',
      sse.ended ? (sseAfter === undefined ? `SSE still open after ${idleMs} ms` : `SSE cut after ${sseAfter.afterMs} ms`) : 'no SSE stream to hold',
    ]
    const cut = wsAfter ?? sseAfter?.afterMs
    probes.push({ name: 'idle', ok: cut === undefined, ms: cut, detail: parts.join('; ') })
    if (cut !== undefined) {
      const keptAlive = hb !== undefined && hb < cut * 0.8
      add({
        cause: 'proxy_idle_timeout',
        severity: keptAlive ? 'info' : 'warn',
        message:
          `A proxy closes connections that are quiet for about ${(cut / 1000).toFixed(1)} s (nginx: proxy_read_timeout). ` +
          (keptAlive
            ? `The server's heartbeat (${hb} ms; clients ping at least that often) stays under it, so surewire connections stay up.`
            : `The server's heartbeat is ${hb ?? '?'} ms, so clients will be cut and reconnect about every ${(cut / 1000).toFixed(0)} s: raise the proxy timeout or lower heartbeatIntervalMs.`),
        fixes: keptAlive ? [] : idleFixes(path, cut),
      })
    }
  } else {
    probes.push({ name: 'idle', ok: null, detail: 'skipped: pass --idle 70s to find a proxy idle timeout' })
    sse.close?.()
  }

  // End the probe sessions at once rather than letting them expire.
  if (sse.sid) void request(withQuery(ep.post, { [QUERY.version]: PROTOCOL_VERSION, [QUERY.session]: sse.sid }), { method: 'POST', headers: { ...common, ...auth, 'Content-Type': 'application/json' }, body: '[{"t":"bye"}]' }, timeoutMs)

  const transport = wsOk ? 'websocket' : sseOk && postOk ? 'sse' : null
  return report(transport)
}

const RANK = { error: 0, warn: 1, info: 2 } as const
/** WebSocket-only causes: when nothing works, the fallback's problem is the one to name first (SSE must work everywhere). */
const WS_ONLY = new Set<Cause>(['upgrade_headers_dropped', 'ws_blocked', 'ws_no_hello', 'ws_no_pong', 'ws_path_not_routed'])

function finish(target: string, ep: ReturnType<typeof resolveEndpoints>, probes: Probe[], findings: Finding[], transport: DoctorReport['transport']): DoctorReport {
  findings.sort((a, b) => RANK[a.severity] - RANK[b.severity] || Number(WS_ONLY.has(a.cause)) - Number(WS_ONLY.has(b.cause)))
  const browserBlocked = findings.some((f) => f.severity === 'error' && (f.cause === 'mixed_content' || f.cause === 'cors_missing' || f.cause === 'origin_forbidden'))
  const ok = transport !== null && !browserBlocked
  const worst = findings.find((f) => f.severity !== 'info') ?? null
  const verdict = !ok
    ? transport
      ? `Clients would get ${transport === 'websocket' ? 'WebSocket' : 'SSE + POST'}, but browsers on the given origin are blocked: ${worst?.cause}.`
      : `No transport works: clients cannot connect${worst ? ` (most likely: ${worst.cause})` : ''}.`
    : transport === 'websocket'
      ? `Clients will use WebSocket${worst ? ` (with a warning: ${worst.cause})` : ''}.`
      : `Clients will use SSE + POST: WebSocket does not work here${worst ? ` (most likely: ${worst.cause})` : ''}.`
  return {
    url: target,
    endpoints: { websocket: ep.websocket.href, sse: ep.sse.href, post: ep.post.href },
    probes,
    transport,
    ok,
    cause: worst?.cause ?? null,
    verdict,
    findings,
  }
}
