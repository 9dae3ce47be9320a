import {
  FrameError,
  PROTOCOL_VERSION,
  QUERY,
  checkServerFrame,
  parseServerFrame,
  utf8Length,
  type ClientFrame,
} from '../protocol'
import { readEventStream } from './sse-stream'
import type { Transport, TransportHandlers, TransportParams } from './transport'
import { withQuery } from './url'

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>

export interface SseEndpoints {
  sse: URL | string
  post: URL | string
}

/**
 * SSE for server → client (fetch + eventsource-parser, so headers and abort work
 * in every runtime) and batched HTTP POST for client → server. Frames sent in the
 * same tick go in one POST; POSTs are serialised so the server sees them in order.
 */
export function openSse(
  fetchFn: FetchLike,
  urls: SseEndpoints,
  params: TransportParams,
  maxBodyBytes: () => number,
  h: TransportHandlers,
): Transport {
  const abort = new AbortController()
  let done = false
  let opened = false
  let sid = params.sid
  const auth: Record<string, string> = params.token ? { Authorization: `Bearer ${params.token}` } : {}

  const finish = (info: { status?: number; detail: string }) => {
    if (done) return
    done = true
    abort.abort()
    h.onClose({ opened, ...info })
  }

  const headers: Record<string, string> = { Accept: 'text/event-stream', ...auth }
  if (params.sid) headers['Last-Event-ID'] = String(params.lastId)
  const href = withQuery(urls.sse, { [QUERY.version]: PROTOCOL_VERSION, [QUERY.session]: params.sid })

  void readEventStream(() => fetchFn(href, { headers, signal: abort.signal, cache: 'no-store' }), new URL(urls.sse).pathname, {
    isDone: () => done,
    onOpen() {
      opened = true
      h.onOpen()
    },
    onEvent(data) {
      let frame
      try {
        frame = parseServerFrame(data)
      } catch (err) {
        return h.onBadFrame(err as FrameError)
      }
      if (frame.t === 'hello') sid = frame.sid
      h.onFrame(frame)
    },
    onBadFrame: (err) => h.onBadFrame(err),
    finish,
    refusalHint(res) {
      const server = res.headers.get('server')
      const hint = res.status === 404 ? ": nothing serves this path — check the proxy's location blocks and the client's `url` / `paths`" : ''
      return `${server ? ` (Server: ${server})` : ''}${hint}`
    },
  })

  // ------------------------------------------------------------------ POST side
  const batch: ClientFrame[] = []
  let scheduled = false
  let inFlight = false

  const post = async (frames: ClientFrame[], keepalive = false): Promise<void> => {
    // One controller per POST, tied to the transport's: fetch (undici) keeps its abort listener on a
    // signal until the request is garbage-collected, so sharing one signal across thousands of POSTs
    // piles up listeners (MaxListenersExceededWarning in Node).
    const postAbort = new AbortController()
    const onAbort = () => postAbort.abort()
    if (abort.signal.aborted) postAbort.abort()
    else if (!keepalive) abort.signal.addEventListener('abort', onAbort)
    let text: string
    let res: Response
    try {
      res = await fetchFn(withQuery(urls.post, { [QUERY.version]: PROTOCOL_VERSION, [QUERY.session]: sid }), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...auth },
        body: JSON.stringify(frames),
        signal: keepalive ? undefined : postAbort.signal,
        keepalive,
        cache: 'no-store',
      })
      if (keepalive) return
      text = await res.text()
    } finally {
      abort.signal.removeEventListener('abort', onAbort)
    }
    if (res.status !== 200) {
      finish({ status: res.status, detail: `POST answered ${res.status}: ${text.slice(0, 200)}` })
      return
    }
    let replies: unknown
    try {
      replies = JSON.parse(text)
      if (!Array.isArray(replies)) throw new Error('not an array')
    } catch {
      return h.onBadFrame(new FrameError('POST response is not a JSON array of frames', text.slice(0, 200)))
    }
    for (const r of replies) {
      if (done) return
      try {
        h.onFrame(checkServerFrame(r, text), true)
      } catch (err) {
        h.onBadFrame(err as FrameError)
      }
    }
  }

  /** Take frames off the batch until the next one would push the body past the server's limit. */
  const takeBatch = (): ClientFrame[] => {
    const limit = maxBodyBytes()
    let bytes = 2
    let n = 0
    for (; n < batch.length; n++) {
      const size = utf8Length(JSON.stringify(batch[n])) + 1
      if (n > 0 && bytes + size > limit) break
      bytes += size
    }
    return batch.splice(0, n)
  }

  const flush = async () => {
    scheduled = false
    if (inFlight || done || batch.length === 0 || !sid) return
    inFlight = true
    try {
      while (batch.length && !done) await post(takeBatch())
    } catch (err) {
      finish({ detail: `POST failed: ${(err as Error)?.message ?? String(err)}` })
    } finally {
      inFlight = false
    }
  }

  return {
    kind: 'sse',
    send(frames) {
      if (done) return
      batch.push(...frames)
      if (!scheduled) {
        scheduled = true
        queueMicrotask(() => void flush())
      }
    },
    close(bye = false) {
      if (done) return
      done = true
      abort.abort()
      if (bye && sid) post([{ t: 'bye' }], true).catch(() => {})
    },
  }
}
