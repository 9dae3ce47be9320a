import { SurewireError, errorText } from '../errors'
import { DEFAULT_MAX_FRAME_BYTES, utf8Length, type ClientFrame, type ServerFrame } from '../protocol'
import { postBody, type Codec } from './codec'
import { Reporter } from './report'
import { readEventStream } from './sse-stream'
import type { Transport, TransportClose, TransportHandlers, TransportParams } from './transport'
import type { Endpoints } from './url'
import { tooLarge } from './websocket'

/**
 * One SSE line or event may hold this many times the server's `maxFrameBytes` (UTF-16 code units,
 * which a frame of N UTF-8 bytes never exceeds): room for server messages larger than what the
 * server accepts, and a stop for a stream that never ends a line.
 */
const SSE_EVENT_BOUND_FACTOR = 4

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

/** Resolves on the next macrotask (setImmediate where there is one: Node, Bun). */
const nextTask = () => new Promise<void>((r) => (typeof setImmediate === 'function' ? setImmediate(r) : setTimeout(r, 0)))

/** One encoded frame waiting for its POST. */
interface Pending {
  wire: string
  seq: number | undefined
}

/**
 * SSE for server → client (fetch + a bounded event-stream parser, so headers and abort work in
 * every runtime) and HTTP POST for client → server. Frames sent in the same tick go in one POST
 * (codec `postBody: 'array'`); POSTs are serialised so the server sees them in order.
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
  const serverMax = () => {
    if (helloMax > 0) return helloMax
    const known = o.maxFrameBytes()
    return Number.isFinite(known) && known > 0 ? known : DEFAULT_MAX_FRAME_BYTES
  }
  const finish = (info: Omit<TransportClose, 'opened'>) => {
    if (r.done) return
    abort.abort()
    r.finish({ opened, ...info })
  }

  const req = codec.eventsRequest(endpoints, params)
  void readEventStream(
    () => o.fetch(req.url, { headers: req.headers, signal: abort.signal, cache: 'no-store' }),
    endpoints.sse.pathname,
    () => SSE_EVENT_BOUND_FACTOR * serverMax(),
    {
      isDone: () => r.done,
      onOpen() {
        opened = true
        r.reportOpen()
        const first = codec.opened?.('sse')
        if (first) onFrame(first)
      },
      onEvent(data) {
        const f = codec.decode(data)
        if (f instanceof SurewireError) return r.bad(f)
        onFrame(f)
      },
      onComment: codec.comment && (() => {
        const f = codec.comment!()
        if (f) r.frame(f)
      }),
      onBadLine: (why) => r.bad(why),
      finish,
      refusalHint(res) {
        const server = res.headers.get('server')
        const hint = res.status === 404 ? `: nothing serves this path${(typeof process !== 'undefined' && process.env.NODE_ENV !== 'production') ? " — check the proxy's location blocks and the client's `url` / `paths`" : ''}` : ''
        return `${server ? ` (Server: ${server})` : ''}${hint}`
      },
    },
  )
  function onFrame(f: ServerFrame): void {
    if (f.t === 'hello' && sid === undefined) {
      // The stream's first hello; a stray one later changes nothing here (nor in the state machine).
      sid = f.sid
      helloMax = f.maxFrameBytes
      queueMicrotask(() => void flush()) // frames may have been written before the session was known
    }
    r.frame(f)
  }

  // ------------------------------------------------------------------ POST side
  let batch: Pending[] = []
  let scheduled = false
  let inFlight = false

  /** One POST; resolves once its answer was reported, or the transport has ended. */
  const post = async (items: Pending[]): Promise<void> => {
    // One controller per POST, tied to the transport's: fetch (undici) keeps its abort listener on a
    // signal until the request is garbage-collected, so sharing one signal across thousands of POSTs
    // piles up listeners (MaxListenersExceededWarning in Node).
    const postAbort = new AbortController()
    const onAbort = () => postAbort.abort()
    abort.signal.addEventListener('abort', onAbort)
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      postAbort.abort()
    }, o.postTimeoutMs)
    const { url, headers } = codec.postRequest(endpoints, params, sid!)
    let res: Response
    let text: string
    try {
      res = await o.fetch(url, { method: 'POST', headers, body: postBody(codec, items.map((i) => i.wire)), signal: postAbort.signal, cache: 'no-store' })
      text = await res.text()
    } catch (err) {
      if (timedOut) return finish({ cause: 'post_timeout', detail: `POST got no answer within postTimeoutMs=${o.postTimeoutMs}` })
      return finish({ cause: 'post_failed', detail: `POST failed: ${errorText(err)}` })
    } finally {
      clearTimeout(timer)
      abort.signal.removeEventListener('abort', onAbort)
    }
    if (r.done) return
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
    const single = codec.postBody === 'single'
    let bytes = single ? 0 : 2 // [ ]
    let n = 0
    if (!single) {
      // Most batches are far below the limit even at 3 bytes per UTF-16 unit: no byte count needed.
      let units = 0
      for (const p of batch) units += p.wire.length + 1
      if (bytes + 3 * units <= limit) return batch.splice(0)
    }
    for (; n < batch.length && !(single && n === 1); n++) {
      const size = utf8Length(batch[n]!.wire) + (n > 0 ? 1 : 0)
      if (bytes + size > limit) {
        if (n > 0) break
        const dropped = batch.splice(0)
        const seq = dropped[0]!.seq
        if (seq !== undefined) r.unsendable(seq, tooLarge(bytes + size, limit))
        return []
      }
      bytes += size
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
        if (batch.length) await nextTask()
      }
    } finally {
      inFlight = false
    }
  }

  return {
    kind: 'sse',
    send(frames: ClientFrame[]) {
      if (r.done) return
      const replies: ServerFrame[] = []
      for (const f of frames) {
        const e = codec.encode(f, 'sse')
        if (!e) continue
        if ('reply' in e) replies.push(e.reply)
        else batch.push({ wire: e.wire, seq: 'seq' in f ? f.seq : undefined })
      }
      if (replies.length) r.later(() => replies.forEach((x) => r.frame(x)))
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
      if (e && 'wire' in e) {
        const { url, headers } = codec.postRequest(endpoints, params, sid!)
        o.fetch(url, { method: 'POST', headers, body: postBody(codec, [e.wire]), keepalive: true, cache: 'no-store' }).catch(() => {})
      }
    },
  }
}
