import { errorText, type FrameError } from '../errors'
import { DEFAULT_MAX_FRAME_BYTES, utf8Length, type ClientFrame, type HelloFrame, type SequencedClientFrame, type ServerFrame } from '../protocol'
import { postBody, type Codec } from './codec'
import { parseErrorBody } from './http-body'
import { noop } from './outbox'
import { Reporter } from './report'
import { SseParser } from './sse-parser'
import type { Transport, TransportClose, TransportHandlers, TransportParams } from './transport'
import type { Endpoints } from './url'
import { tooLarge } from './websocket'

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>

/** What the SSE transport needs besides the codec. */
export interface SseOptions {
  fetch: FetchLike
  endpoints: Endpoints
  /** The server's frame limit from the last hello (Infinity before one arrived). */
  maxFrameBytes(): number
  /** A POST with no answer within this closes the transport with cause `post_timeout`. */
  postTimeoutMs: number
}

/** One encoded frame waiting for its POST. */
interface Pending {
  wire: string
  seq: number | undefined
}

/**
 * SSE for server → client (fetch + a bounded event-stream parser, so headers and abort work in
 * every runtime) and HTTP POST for client → server. Frames sent in the same tick go in one POST
 * (codec `postBody: 'array'`); POSTs are serialised so the server sees them in order.
 *
 * One SSE line or event may hold 4 times the server's `maxFrameBytes` (UTF-16 code units, which a
 * frame of N UTF-8 bytes never exceeds): room for server messages larger than what the server
 * accepts, and a stop for a stream that never ends a line (cause `protocol`, not growing memory).
 */
export function openSse(codec: Codec, o: SseOptions, params: TransportParams, h: TransportHandlers): Transport {
  const r = new Reporter(h)
  const endpoints = o.endpoints // read once: a context may build them on each read
  const abort = new AbortController()
  /** The session from this stream's hello: POSTs wait for it. */
  let sid: string | undefined
  /** The limit the stream's own hello announced (0: none yet, or a codec that knows none). */
  let helloMax = 0
  let opened = false
  const bound = () => {
    const known = o.maxFrameBytes()
    return 4 * (helloMax > 0 ? helloMax : known > 0 && known < Infinity ? known : DEFAULT_MAX_FRAME_BYTES)
  }
  /** Report the end (once: the Reporter drops a second one). The abort is a no-op once the transport ended. */
  const finish = (info: Omit<TransportClose, 'opened'>) => {
    abort.abort()
    r.finish({ opened, ...info })
  }
  /** A decoded frame (or the reason it is not one: a FrameError has no `t`). */
  function onFrame(f: ServerFrame | FrameError): void {
    if ((f as ServerFrame).t === 'hello' && sid === undefined) {
      // The stream's first hello; a stray one later changes nothing here (nor in the state machine).
      const hello = f as HelloFrame
      sid = hello.sid
      helloMax = hello.maxFrameBytes
      queueMicrotask(() => void flush()) // frames may have been written before the session was known
    }
    r.decoded(f)
  }
  // Every callback below may run after the end: the Reporter drops what comes then.
  const parser = new SseParser(
    {
      onEvent: (data) => onFrame(codec.decode(data)),
      onComment: codec.comment && (() => {
        const f = codec.comment!()
        if (f) r.frame(f)
      }),
      onBadLine: (why) => r.bad(`bad SSE line ${why}`),
      onOverflow: (chars) =>
        finish({
          cause: 'protocol',
          detail: `SSE line or event of ${chars}+ characters; the client's bound is ${bound()}${(typeof process === 'object' && process.env.NODE_ENV !== 'production') ? " (4 × the server's maxFrameBytes)" : ''}`,
        }),
    },
    bound,
  )

  const req = codec.eventsRequest(endpoints, params)
  void (async () => {
    try {
      const { status, headers, body } = await o.fetch(req.url, { headers: req.headers, signal: abort.signal, cache: 'no-store' })
      const type = headers.get('content-type') ?? ''
      const refused = status !== 200 || !type.startsWith('text/event-stream') || !body
      if (!refused && !r.done) {
        opened = true
        r.reportOpen()
        const first = codec.opened?.('sse')
        if (first) onFrame(first)
      }
      // Read the event stream, or at most 4096 bytes of a refusal's JSON error body (the rest is discarded).
      let text = ''
      const reader = body?.getReader()
      if (reader) {
        const decoder = new TextDecoder()
        try {
          for (let room = opened ? Infinity : type.includes('json') ? 4096 : 0, c; room > 0 && !r.done && !(c = await reader.read()).done; room -= c.value.byteLength) {
            const t = decoder.decode(c.value.subarray(0, room), { stream: true })
            if (opened) parser.feed(t)
            else text += t
          }
        } catch (err) {
          if (opened) throw err // a broken error body says nothing more
        }
        reader.cancel().catch(noop)
      }
      if (refused) {
        const server = headers.get('server')
        const hint = status === 404 ? `: nothing serves this path${(typeof process === 'object' && process.env.NODE_ENV !== 'production') ? " — check the proxy's location blocks and the client's `url` / `paths`" : ''}` : ''
        finish({ cause: 'refused', status, ...parseErrorBody(text), detail: `SSE endpoint ${endpoints.sse.pathname} answered ${status} ${type || '(no content-type)'}${server ? ` (Server: ${server})` : ''}${hint}` })
      } else finish({ cause: 'closed', detail: 'SSE stream ended' }) // (dropped if the transport ended first)
    } catch (err) {
      finish({ cause: 'network', detail: `SSE ${opened ? 'stream' : 'request'} failed: ${errorText(err)}` })
    }
  })()

  // ------------------------------------------------------------------ POST side
  let batch: Pending[] = []
  let scheduled = false
  let inFlight = false
  /** The POST in flight (POSTs are serialised: at most one); the transport's end aborts it. */
  let inFlightAbort: AbortController | undefined
  abort.signal.onabort = () => inFlightAbort?.abort()
  const postTo = (wires: string[], init: RequestInit) => {
    const { url, headers } = codec.postRequest(endpoints, params, sid!)
    return o.fetch(url, { method: 'POST', headers, body: postBody(codec, wires), cache: 'no-store', ...init })
  }

  /** One POST; resolves once its answer was reported, or the transport has ended. */
  const post = async (items: Pending[]): Promise<void> => {
    // One controller per POST (not the transport's signal: fetch (undici) keeps its abort listener on a
    // signal until the request is garbage-collected, so sharing one across thousands of POSTs piles up
    // listeners, MaxListenersExceededWarning in Node). Aborted: timed out, or the transport ended.
    const postAbort = (inFlightAbort = new AbortController())
    const timer = setTimeout(() => postAbort.abort(), o.postTimeoutMs)
    let res: Response
    let text: string
    try {
      res = await postTo(
        items.map((i) => i.wire),
        { signal: postAbort.signal },
      )
      text = await res.text()
    } catch (err) {
      return finish(postAbort.signal.aborted ? { cause: 'post_timeout', detail: `POST got no answer within postTimeoutMs=${o.postTimeoutMs}` } : { cause: 'post_failed', detail: `POST failed: ${errorText(err)}` })
    } finally {
      clearTimeout(timer)
    }
    // (After the end, what follows reports nothing: the Reporter drops it.)
    const seqs = items.flatMap((i) => (i.seq === undefined ? [] : [i.seq]))
    const answer = codec.postAnswer(res.status, text, seqs)
    if ('refused' in answer) {
      const { refused: _, ...why } = answer
      return finish({ cause: 'post_refused', status: res.status, ...why, detail: `POST answered ${res.status}: ${text.slice(0, 200)}` })
    }
    for (const f of answer.frames) r.decoded(f, true)
  }

  /**
   * Take items off the batch for one POST: as many as fit the server's limit (`array`), or one.
   * An item that cannot fit even alone is never sent: it and everything after it leave the batch,
   * and the state machine is told (no sequence gap reaches the server).
   */
  const takeBatch = (): Pending[] => {
    const limit = o.maxFrameBytes()
    /** Bytes around each frame: `[` plus a `,` or `]` after each (`array`), none (`single`). */
    const sep = codec.postBody === 'single' ? 0 : 1
    let bytes = sep
    let n = 0
    if (sep) {
      // Most batches are far below the limit even at 3 bytes per UTF-16 unit: no byte count needed.
      let units = 1
      for (const p of batch) units += 3 * p.wire.length + 1
      if (units <= limit) return batch.splice(0)
    }
    for (const most = sep ? batch.length : 1; n < most; n++) {
      bytes += utf8Length(batch[n]!.wire) + sep
      if (bytes > limit) {
        if (n) break
        const seq = batch.splice(0)[0]!.seq
        if (seq !== undefined) r.unsendable(seq, tooLarge(bytes, limit))
        return []
      }
    }
    return batch.splice(0, n)
  }

  const flush = async () => {
    scheduled = false
    if (inFlight || r.done || !sid) return
    inFlight = true
    try {
      while (batch.length && !r.done) {
        const items = takeBatch()
        if (!items.length) continue
        await post(items)
        // The answer's acks resolve send() promises, and an app awaiting them sends again one message
        // per microtask: let that settle (one macrotask) so the next POST takes all of it, not one.
        if (batch.length) await new Promise((next) => (globalThis.setImmediate ?? setTimeout)(next)) // Node, Bun: setImmediate
      }
    } finally {
      inFlight = false
    }
  }

  return {
    send(frames: ClientFrame[]) {
      if (r.done) return
      let replies: ServerFrame[] | undefined
      for (const f of frames) {
        const e = codec.encode(f, 'sse')
        if (!e) continue
        if ('reply' in e) (replies ??= []).push(e.reply)
        else batch.push({ wire: e.wire, seq: (f as Partial<SequencedClientFrame>).seq }) // pings and byes have none
      }
      r.replies(replies)
      if (!scheduled) {
        scheduled = true
        queueMicrotask(() => void flush())
      }
    },
    close(bye = false) {
      if (r.done) return
      r.end()
      abort.abort()
      batch = []
      const e = bye && sid ? codec.encode({ t: 'bye' }, 'sse') : null
      if (e && 'wire' in e) postTo([e.wire], { keepalive: true }).catch(noop)
    },
  }
}
