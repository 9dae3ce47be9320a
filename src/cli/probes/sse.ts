/** The SSE probe: time to headers / first byte / hello, and whether events arrive live or held back. */
import http from 'node:http'
import https from 'node:https'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { PROTOCOL_VERSION, QUERY } from '../../protocol'
import { withQuery } from '../../client/url'
import type { Probe, Run } from '../types'
import { captureBody, describeServer, now, round } from './util'

export interface SseEnd {
  afterMs: number
  lastEventAgoMs: number
}

export interface SseResult {
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
  ended?: Promise<SseEnd>
  close?: () => void
}

/** One GET of the stream; resolves once with what it learned, the stream left open when `keepOpen` and it is live. */
class SseAttempt {
  readonly result: SseResult = { probe: { name: 'sse', ok: false, detail: '' }, headers: {}, body: '', eventsInFirstChunk: 0 }
  private readonly t0 = now()
  private readonly req: http.ClientRequest
  private readonly timer: ReturnType<typeof setTimeout>
  private settled = false
  private lastEventAt = now()
  private chunks = 0
  /** Events parsed from the current chunk. */
  private inChunk = 0
  private readonly parser = createParser({ onEvent: (ev) => this.onEvent(ev) })

  constructor(
    url: string,
    headers: Record<string, string>,
    private readonly timeoutMs: number,
    private readonly keepOpen: boolean,
    private readonly resolve: (r: SseResult) => void,
  ) {
    const u = new URL(url)
    const mod = u.protocol === 'https:' ? https : http
    this.req = mod.request(u, { headers: { ...headers, Accept: 'text/event-stream' }, agent: false }, (res) => this.onResponse(res))
    this.req.on('error', (err) => this.onRequestError(err))
    this.req.end()
    this.timer = setTimeout(() => this.onTimeout(), timeoutMs)
  }

  private settle(open = false): void {
    if (this.settled) return
    this.settled = true
    clearTimeout(this.timer)
    if (open) {
      const openedAt = now()
      let resolveEnded: (v: SseEnd) => void = () => {}
      this.result.ended = new Promise((r) => (resolveEnded = r))
      this.result.close = () => this.req.destroy()
      this.req.on('close', () => resolveEnded({ afterMs: round(now() - openedAt), lastEventAgoMs: round(now() - this.lastEventAt) }))
    } else this.req.destroy()
    this.resolve(this.result)
  }

  private onResponse(res: http.IncomingMessage): void {
    const { result } = this
    result.headersMs = round(now() - this.t0)
    result.status = res.statusCode
    result.headers = res.headers
    const type = String(res.headers['content-type'] ?? '')
    if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) return this.onNotAStream(res, type)
    res.setEncoding('utf8')
    res.on('data', (c: string) => this.onChunk(c))
    res.on('end', () => {
      if (!this.settled) {
        result.probe = { name: 'sse', ok: false, ms: round(now() - this.t0), detail: `stream ended after ${round(now() - this.t0)} ms without a hello` }
        this.settle()
      }
    })
  }

  /** Wrong status or content type: read the body (diagnosis looks at it) and report. */
  private onNotAStream(res: http.IncomingMessage, type: string): void {
    captureBody(res, this.result)
    const end = () => {
      this.result.probe = { name: 'sse', ok: false, ms: this.result.headersMs, detail: `${res.statusCode} ${type || '(no content-type)'}${describeServer(res.headers)}` }
      this.settle()
    }
    res.on('end', end)
    res.on('error', end)
  }

  /** The first event must be a surewire hello; later ones only count (for the lump check). */
  private onEvent(ev: EventSourceMessage): void {
    const { result } = this
    this.lastEventAt = now()
    this.inChunk++
    if (result.helloMs !== undefined) return
    result.helloMs = round(now() - this.t0)
    try {
      const f = JSON.parse(ev.data) as { t?: unknown; sid?: unknown; hb?: unknown }
      if (f.t === 'hello' && typeof f.sid === 'string') {
        result.sid = f.sid
        result.hb = typeof f.hb === 'number' ? f.hb : undefined
      }
    } catch {
      /* not JSON: reported by judge() */
    }
  }

  private onChunk(c: string): void {
    const { result } = this
    this.chunks++
    if (result.firstByteMs === undefined) result.firstByteMs = round(now() - this.t0)
    this.inChunk = 0
    this.parser.feed(c)
    if (this.chunks === 1) result.eventsInFirstChunk = this.inChunk
    if (result.helloMs !== undefined && !this.settled) this.judge(result.helloMs)
  }

  /** The first event is in: a hello, and did it come live or in a lump with others (buffered)? */
  private judge(helloMs: number): void {
    const { result } = this
    const lump = result.eventsInFirstChunk > 3 || helloMs - (result.headersMs ?? 0) > 1_000
    const live = lump ? `held back: ${result.eventsInFirstChunk} events in the first chunk` : 'live'
    result.probe = result.sid
      ? { name: 'sse', ok: !lump, ms: helloMs, detail: `200 text/event-stream, headers ${result.headersMs} ms, first byte ${result.firstByteMs} ms, hello ${helloMs} ms (hb ${result.hb} ms), ${live}` }
      : { name: 'sse', ok: false, ms: helloMs, detail: 'a stream, but its first event is not a surewire hello' }
    this.settle(this.keepOpen && result.probe.ok === true)
  }

  private onRequestError(err: Error): void {
    if (this.settled) return
    this.result.error = err.message
    this.result.probe = { name: 'sse', ok: false, ms: round(now() - this.t0), detail: `request failed: ${err.message}` }
    this.settle()
  }

  private onTimeout(): void {
    const { result, timeoutMs } = this
    result.probe = {
      name: 'sse',
      ok: false,
      ms: timeoutMs,
      detail:
        result.headersMs === undefined
          ? `no response (not even headers) within ${timeoutMs} ms`
          : `200 text/event-stream after ${result.headersMs} ms, then no event within ${timeoutMs} ms`,
    }
    this.settle()
  }
}

/** Probe the SSE endpoint the way clients connect (Authorization header); kept open for the idle probe. */
export async function probeSse(run: Run): Promise<SseResult> {
  const url = withQuery(run.ep.sse, { [QUERY.version]: PROTOCOL_VERSION })
  const keepOpen = !!run.options.idleMs
  const sse = await new Promise<SseResult>((resolve) => new SseAttempt(url, { ...run.common, ...run.auth }, run.timeoutMs, keepOpen, resolve))
  run.probes.push({ ...sse.probe, detail: `GET ${run.path} (Accept: text/event-stream) → ${sse.probe.detail}` })
  return sse
}
