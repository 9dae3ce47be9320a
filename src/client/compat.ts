/**
 * Compatibility mode: talk to an existing backend that speaks plain JSON messages
 * (`{"type": "ping"}` → `{"type": "pong"}`) on its own WebSocket / SSE / POST endpoints.
 *
 * It is a protocol adapter, not a second client: it wraps the raw transports so the
 * state machine sees what it always sees — a `hello` when the socket or stream opens,
 * every incoming message as `{t:'msg', id, d}`, a `pong` for the backend's pong, an
 * `ack` once an outgoing message was written. Fallback, backoff, keepalive, the
 * bounded queue, typed messages and status reasons all work unchanged.
 *
 * What needs the surewire protocol and is lost here: resume after a reconnect (every
 * connection is a new session, so the client emits `reset` on each reconnect — refetch
 * state), exactly-once delivery (a send that was written but not yet taken by the
 * backend when the connection dropped is lost; one sent again after a failed POST may
 * arrive twice), server acks (`send()` resolves when the message was written, not
 * when the backend accepted it), sessions spanning SSE + POST (a POST carries no
 * session; the backend must tell its clients apart by the token / cookie), the
 * background move back from SSE to WebSocket (no session to move: set
 * `wsProbeIntervalMs: 0`; WebSocket is tried again on the next reconnect), and the
 * `sse_buffered` diagnosis (the hello is synthesized when the response headers arrive).
 */
import { FrameError, type ClientFrame, type HelloFrame, type ServerFrame } from '../protocol'
import type { FetchLike } from './sse'
import { readEventStream } from './sse-stream'
import type { Protocol, Transport, TransportClose, TransportContext, TransportHandlers, TransportKind, TransportParams } from './transport'
import { withQuery } from './url'
import type { WebSocketConstructor } from './websocket'

export interface CompatOptions {
  /**
   * Message sent as the keepalive ping on WebSocket, e.g. `{ type: 'ping' }`. Without one the
   * client cannot detect a half-open WebSocket (every ping is answered locally) — and a proxy's
   * idle timeout applies unless the backend sends something often enough.
   */
  ping?: unknown
  /** Is this incoming message the backend's answer to a ping? Pongs never reach `message` handlers. @default nothing is a pong */
  isPong?: (message: unknown) => boolean
  /** The message that subscribes to a topic, e.g. `(topic) => ({ type: 'subscribe', topic })`. Without it `subscribe()` rejects. */
  subscribe?: (topic: string) => unknown
  /** The message that unsubscribes from a topic. Without it `unsubscribe()` rejects. */
  unsubscribe?: (topic: string) => unknown
  /** POST body on the SSE transport: one JSON message per request (in order), or one JSON array per batch. @default 'single' */
  postBody?: 'single' | 'array'
  /**
   * How often the backend's SSE stream carries something (an event or a `:` comment line);
   * 2.5 × this of silence means the stream is dead (unless `sseSilenceTimeoutMs` is set).
   * It also caps the WebSocket ping interval. @default 15_000
   */
  heartbeatMs?: number
  /** Query parameter that carries the token on WebSocket (browsers cannot set headers); `null` sends none. SSE and POST use `Authorization: Bearer`. @default 'access_token' */
  tokenParam?: string | null
}

export const compatDefaults = { postBody: 'single', heartbeatMs: 15_000, tokenParam: 'access_token' } as const

type Resolved = CompatOptions & { postBody: 'single' | 'array'; heartbeatMs: number; tokenParam: string | null }

/** A protocol for a backend that speaks plain JSON; pass it as `protocol` to `RealtimeClient`. */
export function compat(options: CompatOptions = {}): Protocol {
  const o: Resolved = { ...compatDefaults, ...options }
  // Ids are per protocol instance and only ever increase, so no connection's messages look like duplicates.
  let lastId = 0
  const nextId = () => ++lastId
  return {
    name: 'compat',
    open(kind: TransportKind, ctx: TransportContext, params: TransportParams, h: TransportHandlers): Transport {
      return kind === 'websocket' ? openWs(ctx.WebSocket, ctx.endpoints.websocket, params, h, o, nextId) : openSse(ctx.fetch, ctx.endpoints, params, h, o, nextId)
    },
  }
}

function hello(o: Resolved): HelloFrame {
  const sid = `compat-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`
  // A fresh sid every time: the state machine treats each connection as a new session (no resume).
  return { t: 'hello', sid, hb: Math.min(Math.max(1, o.heartbeatMs), 2 ** 30), resumed: false, maxFrameBytes: 0 }
}

/** Parse one raw message into the frame the state machine expects. */
function incoming(text: string, o: Resolved, nextId: () => number): ServerFrame | FrameError {
  let d: unknown
  try {
    d = JSON.parse(text)
  } catch {
    return new FrameError('message is not valid JSON', text.slice(0, 200))
  }
  if (o.isPong?.(d)) return { t: 'pong' }
  return { t: 'msg', id: nextId(), d }
}

/**
 * Translate the state machine's frames into backend messages. `write` sends one message;
 * the returned frames (acks, nacks, local pongs) are reported once the writes are done.
 */
function translate(frames: ClientFrame[], o: Resolved, local: ServerFrame[]): { seq: number | undefined; message: unknown }[] {
  const out: { seq: number | undefined; message: unknown }[] = []
  for (const f of frames) {
    if (f.t === 'msg') out.push({ seq: f.seq, message: f.d })
    else if (f.t === 'sub' || f.t === 'unsub') {
      const map = f.t === 'sub' ? o.subscribe : o.unsubscribe
      if (map) out.push({ seq: f.seq, message: map(f.topic) })
      else {
        const fn = f.t === 'sub' ? 'subscribe' : 'unsubscribe'
        local.push({ t: 'nack', seq: f.seq, code: 'bad_frame', message: `compat mode: pass \`${fn}: (topic) => ({ … })\` to compat() to map ${fn}() to a message` })
      }
    } else if (f.t === 'ping') {
      if (o.ping === undefined) local.push({ t: 'pong' })
      else out.push({ seq: undefined, message: o.ping })
    }
    // `bye`: a plain backend has no session to end; closing the connection says it all.
  }
  return out
}

function openWs(WS: WebSocketConstructor, url: URL, params: TransportParams, h: TransportHandlers, o: Resolved, nextId: () => number): Transport {
  const ws = new WS(withQuery(url, o.tokenParam ? { [o.tokenParam]: params.token } : {}))
  let done = false
  let opened = false
  let lastError = ''
  ws.binaryType = 'arraybuffer'
  let status: number | undefined
  if (typeof (ws as { once?: unknown }).once === 'function') {
    ;(ws as unknown as { once(e: string, l: (req: unknown, res: { statusCode?: number }) => void): void }).once('unexpected-response', (_req, res) => {
      status = res?.statusCode ?? 0
      ws.close()
    })
  }
  const finish = (code: number, detail: string) => {
    if (done) return
    done = true
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null
    h.onClose({ opened, cause: status !== undefined ? 'refused' : code === 1006 ? 'network' : 'closed', code, status, detail })
  }
  ws.onopen = () => {
    if (done) return
    opened = true
    h.onOpen()
    h.onFrame(hello(o))
  }
  ws.onmessage = (ev) => {
    if (done) return
    if (typeof ev.data !== 'string') return h.onBadFrame(new FrameError('binary messages are not supported in compat mode', ''))
    const f = incoming(ev.data, o, nextId)
    if (f instanceof FrameError) h.onBadFrame(f)
    else h.onFrame(f)
  }
  ws.onerror = (ev) => {
    const msg = (ev as { message?: unknown })?.message ?? (ev as { error?: { message?: unknown } })?.error?.message
    if (typeof msg === 'string') lastError = msg
  }
  ws.onclose = (ev) => finish(ev.code, ev.reason || lastError || `closed with code ${ev.code}`)
  return {
    kind: 'websocket',
    send(frames) {
      if (done || ws.readyState !== 1) return
      const replies: ServerFrame[] = []
      for (const { seq, message } of translate(frames, o, replies)) {
        ws.send(JSON.stringify(message))
        if (seq !== undefined) replies.push({ t: 'ack', seq })
      }
      // Reported after send() returns, never from inside it (the state machine arms its pong timer after sending a ping).
      if (replies.length) queueMicrotask(() => replies.forEach((r) => !done && h.onFrame(r)))
    },
    close() {
      if (done) return
      done = true
      ws.onopen = ws.onmessage = ws.onclose = null
      ws.onerror = () => {}
      try {
        ws.close(1000, 'client closed')
      } catch {
        /* already closing */
      }
    },
  }
}

function openSse(
  fetchFn: FetchLike,
  urls: { sse: URL; post: URL },
  params: TransportParams,
  h: TransportHandlers,
  o: Resolved,
  nextId: () => number,
): Transport {
  const abort = new AbortController()
  let done = false
  let opened = false
  const auth: Record<string, string> = params.token ? { Authorization: `Bearer ${params.token}` } : {}
  const finish = (info: Omit<TransportClose, 'opened'>) => {
    if (done) return
    done = true
    abort.abort()
    h.onClose({ opened, ...info })
  }

  void readEventStream(() => fetchFn(urls.sse.href, { headers: { Accept: 'text/event-stream', ...auth }, signal: abort.signal, cache: 'no-store' }), urls.sse.pathname, {
    isDone: () => done,
    onOpen() {
      opened = true
      h.onOpen()
      h.onFrame(hello(o))
    },
    onEvent(data) {
      const f = incoming(data, o, nextId)
      if (f instanceof FrameError) h.onBadFrame(f)
      else h.onFrame(f)
    },
    onComment: () => h.onFrame({ t: 'hb' }), // `: keepalive` lines keep the stream alive
    onBadFrame: (err) => h.onBadFrame(err),
    finish,
  })

  // POSTs go out one at a time, in order; a message counts as sent once its POST got a 2xx.
  let queue: { seq: number | undefined; message: unknown }[] = []
  let running = false
  const post = async (body: unknown): Promise<Response> =>
    fetchFn(urls.post.href, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...auth },
      body: JSON.stringify(body),
      signal: abort.signal,
      cache: 'no-store',
    })
  const drain = async () => {
    if (running) return
    running = true
    try {
      while (queue.length && !done) {
        const batch = o.postBody === 'array' ? queue.splice(0) : queue.splice(0, 1)
        const res = await post(o.postBody === 'array' ? batch.map((b) => b.message) : batch[0]!.message)
        const text = await res.text().catch(() => '')
        if (done) return
        const seqs = batch.map((b) => b.seq).filter((s): s is number => s !== undefined)
        if (res.status >= 200 && res.status < 300) {
          if (seqs.length) h.onFrame({ t: 'ack', seq: Math.max(...seqs) })
        } else if ((res.status === 400 || res.status === 422) && seqs.length) {
          // The backend refused these messages; reject them rather than re-sending forever.
          for (const seq of seqs) h.onFrame({ t: 'nack', seq, code: 'invalid_message', message: `POST answered ${res.status}: ${text.slice(0, 200)}` })
        } else {
          return finish({ cause: 'post_refused', status: res.status, detail: `POST answered ${res.status}: ${text.slice(0, 200)}` })
        }
      }
    } catch (err) {
      finish({ cause: 'post_failed', detail: `POST failed: ${(err as Error)?.message ?? String(err)}` })
    } finally {
      running = false
    }
  }

  return {
    kind: 'sse',
    send(frames) {
      if (done) return
      const local: ServerFrame[] = []
      for (const m of translate(frames, o, local)) {
        if (m.seq === undefined) local.push({ t: 'pong' }) // pings are a WebSocket matter; SSE liveness is the stream's
        else queue.push(m)
      }
      if (local.length) queueMicrotask(() => local.forEach((r) => !done && h.onFrame(r)))
      queueMicrotask(() => void drain())
    },
    close() {
      if (done) return
      done = true
      queue = []
      abort.abort()
    },
  }
}
