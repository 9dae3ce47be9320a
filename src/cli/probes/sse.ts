/** The SSE probe: time to headers / first byte / hello, and whether events arrive live or held back. */
import type http from 'node:http'
import type { Readable } from 'node:stream'
import zlib from 'node:zlib'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { PROTOCOL_VERSION, QUERY } from '../../protocol'
import { withQuery } from '../../client/url'
import type { Probe, Run } from '../types'
import type { Dialed } from './dial'
import { captureBody, describeServer, now, protocolError, round, type ServerError } from './util'

export interface SseEnd {
  afterMs: number
  lastEventAgoMs: number
}

/**
 * How the probe ended, as data (the verdict switches on this, never on `detail`):
 * `live` (a hello, promptly), `held_back` (a hello, but late or in a lump: buffered),
 * `not_hello` (a stream whose first event is not a hello), `ended` (the stream ended first),
 * `no_event` (headers, then nothing in time), `no_headers` (nothing at all in time),
 * `not_stream` (another status or content type; `serverError` when the body was a protocol error),
 * `failed` (the request failed on the network).
 */
export type SseOutcome = 'live' | 'held_back' | 'not_hello' | 'ended' | 'no_event' | 'no_headers' | 'not_stream' | 'failed'

export interface SseResult {
  outcome: SseOutcome
  probe: Probe
  status?: number
  headers: http.IncomingHttpHeaders
  rawHeaders?: string[]
  body: string
  serverError?: ServerError
  /** Content-Encoding of the stream (the probe asks for gzip, br as browsers do). */
  encoding?: string
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
  readonly result: SseResult = { outcome: 'no_headers', probe: { name: 'sse', ok: false, detail: '' }, headers: {}, body: '', eventsInFirstChunk: 0 }
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
    dialed: Dialed,
    private readonly timeoutMs: number,
    private readonly keepOpen: boolean,
    private readonly resolve: (r: SseResult) => void,
  ) {
    this.req = dialed.mod.request(dialed.options, (res) => this.onResponse(res))
    this.req.on('error', (err) => this.onRequestError(err))
    this.req.end()
    this.timer = setTimeout(() => this.onTimeout(), timeoutMs)
  }

  private settle(outcome: SseOutcome, open = false): void {
    if (this.settled) return
    this.settled = true
    this.result.outcome = outcome
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
    result.rawHeaders = res.rawHeaders
    const type = String(res.headers['content-type'] ?? '')
    const encoding = String(res.headers['content-encoding'] ?? '').trim().toLowerCase()
    if (encoding && encoding !== 'identity') result.encoding = encoding
    const body = decoded(res, encoding)
    if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) return this.onNotAStream(res, body, type)
    body.setEncoding('utf8')
    body.on('data', (c: string) => this.onChunk(c))
    const ended = () => {
      if (!this.settled) {
        result.probe = { name: 'sse', ok: false, ms: round(now() - this.t0), detail: `stream ended after ${round(now() - this.t0)} ms without a hello` }
        this.settle('ended')
      }
    }
    body.on('end', ended)
    body.on('error', ended)
  }

  /** Wrong status or content type: read the body (diagnosis looks at it) and report. */
  private onNotAStream(res: http.IncomingMessage, body: Readable, type: string): void {
    captureBody(body as http.IncomingMessage, this.result)
    const end = () => {
      this.result.serverError = protocolError(this.result.body)
      const code = this.result.serverError ? ` (${this.result.serverError.code})` : ''
      this.result.probe = { name: 'sse', ok: false, ms: this.result.headersMs, detail: `${res.statusCode}${code} ${type || '(no content-type)'}${describeServer(res.headers)}` }
      this.settle('not_stream')
    }
    body.on('end', end)
    body.on('error', end)
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
    const enc = result.encoding ? `, ${result.encoding}-compressed` : ''
    result.probe = result.sid
      ? { name: 'sse', ok: !lump, ms: helloMs, detail: `200 text/event-stream${enc}, headers ${result.headersMs} ms, first byte ${result.firstByteMs} ms, hello ${helloMs} ms (hb ${result.hb} ms), ${live}` }
      : { name: 'sse', ok: false, ms: helloMs, detail: 'a stream, but its first event is not a surewire hello' }
    const outcome: SseOutcome = !result.sid ? 'not_hello' : lump ? 'held_back' : 'live'
    this.settle(outcome, this.keepOpen && outcome === 'live')
  }

  private onRequestError(err: Error): void {
    if (this.settled) return
    this.result.error = err.message
    this.result.probe = { name: 'sse', ok: false, ms: round(now() - this.t0), detail: `request failed: ${err.message}` }
    this.settle('failed')
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
    this.settle(result.headersMs === undefined ? 'no_headers' : 'no_event')
  }
}

/** The body, decompressed as it arrives (zlib emits what it can decode at every flush). */
function decoded(res: http.IncomingMessage, encoding: string): Readable {
  const z = encoding === 'gzip' || encoding === 'x-gzip' ? zlib.createGunzip() : encoding === 'br' ? zlib.createBrotliDecompress() : encoding === 'deflate' ? zlib.createInflate() : undefined
  if (!z) return res
  res.pipe(z)
  res.on('error', (e) => z.destroy(e))
  return z
}

/**
 * Probe the SSE endpoint the way browsers connect (Authorization header, `Accept-Encoding: gzip, br`,
 * no `Origin` on a same-origin GET); kept open for the idle probe.
 */
export async function probeSse(run: Run): Promise<SseResult> {
  const url = new URL(withQuery(run.ep.sse, { [QUERY.version]: PROTOCOL_VERSION }))
  const keepOpen = !!run.options.idleMs
  const headers = { ...run.headers.sse, ...run.auth, Accept: 'text/event-stream', 'Accept-Encoding': 'gzip, br' }
  let sse: SseResult
  try {
    const dialed = await run.dial.http(url, headers)
    sse = await new Promise<SseResult>((resolve) => new SseAttempt(dialed, run.timeoutMs, keepOpen, resolve))
  } catch (err) {
    const detail = `request failed: ${(err as Error).message}`
    sse = { outcome: 'failed', probe: { name: 'sse', ok: false, detail }, headers: {}, body: '', eventsInFirstChunk: 0, error: (err as Error).message }
  }
  if (sse.status !== undefined) run.seen.push(sse)
  run.probes.push({ ...sse.probe, detail: `GET ${run.path} (Accept: text/event-stream) → ${sse.probe.detail}` })
  return sse
}
