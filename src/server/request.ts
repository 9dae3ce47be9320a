import { QUERY } from '../protocol'

/**
 * The request `authenticate(req)` receives, the same on every adapter (node:http `attach` /
 * `handleRequest` / `handleUpgrade`, and `createFetchHandler`).
 *
 * It is a plain object, not a node `IncomingMessage` nor a Fetch `Request`: `method`, `url`
 * (path and query, e.g. `/realtime?v=1&sid=…`) and `headers` (lower-cased names; repeated
 * headers joined with `, `), which is what {@link bearerToken} reads and what cookie or
 * session libraries need. `raw` is the adapter's own request object for anything else (node:
 * `IncomingMessage`, whose `socket` is real; Fetch: the `Request`), and `adapter` says which.
 */
export interface RealtimeRequest {
  readonly method: string
  /** Path and query string as the client sent them. */
  readonly url: string
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string | undefined>>
  /** The peer's address where the adapter knows it (node:http); undefined on the Fetch handler. */
  readonly remoteAddress: string | undefined
  /** Which adapter received the request; `raw` is an `IncomingMessage` ('node') or a `Request` ('fetch'). */
  readonly adapter: 'node' | 'fetch'
  readonly raw: unknown
}

/** What {@link bearerToken} reads: a {@link RealtimeRequest}, or a node `IncomingMessage`. */
export interface RequestHeadersAndUrl {
  readonly url?: string | undefined
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
}

/**
 * The token a surewire client sent: `Authorization: Bearer …`, else the `access_token` query
 * parameter (WebSocket from browsers). Works on a {@link RealtimeRequest} and on a node
 * `IncomingMessage`.
 */
export function bearerToken(req: RequestHeadersAndUrl): string | undefined {
  const h = req.headers.authorization
  if (typeof h === 'string' && /^Bearer /i.test(h)) return h.slice(7).trim()
  const q = new URL(req.url ?? '/', 'http://x').searchParams.get(QUERY.token)
  return q ?? undefined
}

/** Session id and resume point a transport connection asks for. */
export function openParams(req: RealtimeRequest): { sid: string | undefined; last: number | undefined; notices: boolean } {
  const q = new URL(req.url, 'http://x').searchParams
  const sid = q.get(QUERY.session) ?? undefined
  const raw = req.headers['last-event-id'] ?? q.get(QUERY.lastId) ?? undefined
  const n = raw === undefined ? NaN : Number(raw)
  // notices=1: the client reads `notice` frames (docs/PROTOCOL.md); others get the older form (an `error` frame) or nothing.
  return { sid, last: Number.isSafeInteger(n) && n >= 0 ? n : undefined, notices: q.get('notices') === '1' }
}

/** Header record from `[name, value]` pairs: lower-cased names, repeats joined with `, `. */
export function headerRecord(entries: Iterable<[string, string | string[] | undefined]>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const [k, v] of entries) {
    if (v === undefined) continue
    const name = k.toLowerCase()
    const value = Array.isArray(v) ? v.join(', ') : v
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`
  }
  return out
}
