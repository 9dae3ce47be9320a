/**
 * Compatibility mode: talk to an existing backend that speaks plain JSON messages
 * (`{"type": "ping"}` → `{"type": "pong"}`) on its own WebSocket / SSE / POST endpoints.
 *
 * It is a codec (codec.ts), not a second client nor a second pair of transports: the same
 * WebSocket and SSE + POST transports carry it, and it only says which URLs and headers they
 * request and how frames are written and read, so the state machine sees what it always
 * sees — a `hello` when the socket or stream opens, every incoming message as
 * `{t:'msg', id, d}`, a `pong` for the backend's pong, an `ack` once an outgoing message was
 * written (WebSocket) or its POST answered 2xx. Fallback, backoff, keepalive, the bounded
 * queue, the size and POST-timeout checks, typed messages and status reasons all work unchanged.
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
import { FrameError } from '../errors'
import { DEFAULT_HEARTBEAT_MS, type ClientFrame, type HelloFrame } from '../protocol'
import type { Codec, Encoded } from './codec'
import { parseErrorBody } from './http-body'
import type { TransportKind } from './transport'
import { withQuery } from './url'

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
  /**
   * Query parameter that carries the token on WebSocket (browsers cannot set headers); `null` sends
   * none (undefined means the default). SSE and POST use `Authorization: Bearer`. @default 'access_token'
   */
  tokenParam?: string | null
}

export const compatDefaults = { postBody: 'single', heartbeatMs: DEFAULT_HEARTBEAT_MS, tokenParam: 'access_token' } as const

type Resolved = CompatOptions & { postBody: 'single' | 'array'; heartbeatMs: number; tokenParam: string | null }

/** The defaults for every option that is unset or `undefined` (the one way options get defaults). */
function resolve(options: CompatOptions): Resolved {
  const o: Record<string, unknown> = { ...compatDefaults }
  for (const [k, v] of Object.entries(options)) if (v !== undefined) o[k] = v
  return o as unknown as Resolved
}

/** A codec for a backend that speaks plain JSON; pass it as `protocol` to `RealtimeClient`. */
export function compat(options: CompatOptions = {}): Codec {
  const o = resolve(options)
  // Ids are per codec instance and only ever increase, so no connection's messages look like duplicates.
  let lastId = 0
  const bearer = (token: string | undefined): Record<string, string> => (token ? { Authorization: `Bearer ${token}` } : {})
  return {
    name: 'compat',
    postBody: o.postBody,
    websocketUrl: (endpoints, p) => withQuery(endpoints.websocket, o.tokenParam ? { [o.tokenParam]: p.token } : {}),
    eventsRequest: (endpoints, p) => ({ url: endpoints.sse.href, headers: { Accept: 'text/event-stream', ...bearer(p.token) } }),
    postRequest: (endpoints, p) => ({ url: endpoints.post.href, headers: { 'Content-Type': 'application/json', ...bearer(p.token) } }),
    // A fresh sid every time: the state machine treats each connection as a new session (no resume).
    opened: () => hello(o),
    encode: (frame, kind) => encode(frame, kind, o),
    decode(text) {
      let d: unknown
      try {
        d = JSON.parse(text)
      } catch {
        return new FrameError('message is not valid JSON', text.slice(0, 200))
      }
      try {
        if (o.isPong?.(d)) return { t: 'pong' }
      } catch (err) {
        return new FrameError(`compat mode: isPong() threw: ${(err as Error)?.message}`, text.slice(0, 200))
      }
      return { t: 'msg', id: ++lastId, d }
    },
    comment: () => ({ t: 'hb' }), // `: keepalive` lines keep the stream alive
    postAnswer(status, text, seqs) {
      // A message counts as sent once its POST got a 2xx (a plain backend sends no acks).
      if (status >= 200 && status < 300) return { frames: seqs.length ? [{ t: 'ack', seq: Math.max(...seqs) }] : [] }
      // The backend refused these messages: reject them rather than re-sending forever.
      if ((status === 400 || status === 422) && seqs.length) {
        return { frames: seqs.map((seq) => ({ t: 'nack', seq, code: 'invalid_message', message: `POST answered ${status}: ${text.slice(0, 200)}` })) }
      }
      return { refused: true, ...parseErrorBody(text) }
    },
  }
}

function hello(o: Resolved): HelloFrame {
  const sid = `compat-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`
  return { t: 'hello', sid, hb: Math.min(Math.max(1, o.heartbeatMs), 2 ** 30), resumed: false, maxFrameBytes: 0 }
}

const nack = (seq: number, message: string): Encoded => ({ reply: { t: 'nack', seq, code: 'bad_frame', message } })

/** One state-machine frame as a backend message (or the answer the codec gives itself). */
function encode(f: ClientFrame, kind: TransportKind, o: Resolved): Encoded {
  switch (f.t) {
    case 'msg':
      return { wire: JSON.stringify(f.d), ackWhenWritten: kind === 'websocket' }
    case 'sub':
    case 'unsub': {
      const fn = f.t === 'sub' ? 'subscribe' : 'unsubscribe'
      const map = o[fn]
      if (!map) return nack(f.seq, `compat mode: pass \`${fn}: (topic) => ({ … })\` to compat() to map ${fn}() to a message`)
      let wire: string | undefined
      try {
        wire = JSON.stringify(map(f.topic))
      } catch (err) {
        return nack(f.seq, `compat mode: ${fn}() threw or returned a value that is not JSON: ${(err as Error)?.message}`)
      }
      if (typeof wire !== 'string') return nack(f.seq, `compat mode: ${fn}() returned a value that is not JSON`)
      return { wire, ackWhenWritten: kind === 'websocket' }
    }
    case 'ping':
      // Pings are a WebSocket matter (SSE liveness is the stream's); without a ping message every ping is answered here.
      if (kind === 'sse' || o.ping === undefined) return { reply: { t: 'pong' } }
      return { wire: JSON.stringify(o.ping) }
    default:
      return null // `bye`: a plain backend has no session to end; closing the connection says it all.
  }
}
