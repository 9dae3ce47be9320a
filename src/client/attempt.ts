import { SurewireError } from '../errors'
import type { WsFallback } from './fallback'
import type { StatusReason } from './status'
import type { TransportClose, TransportKind } from './transport'

/**
 * The attempt race, decided from data: what a connect timeout means, how a close reads in a status
 * `detail`. client.ts (the state machine) acts on these and plans each attempt.
 */

/** A candidate as the race sees it. */
interface Candidate {
  kind: TransportKind
  opened: boolean
}

/** What a connect timeout means. `error`: also reported on `error` (a proxy that buffers the stream). */
export interface TimeoutVerdict {
  reason: StatusReason
  detail: string
  error?: SurewireError
}

/** No candidate said hello within `connectTimeoutMs`: record what failed, and say why. */
export function connectTimedOut(pending: readonly Candidate[], fallback: WsFallback, connectTimeoutMs: number): TimeoutVerdict {
  const sse = pending.find((c) => c.kind === 'sse')
  // The server answered (SSE headers, or a refused WebSocket handshake) but the stream stays mute: a proxy buffers it.
  const buffered = sse && (sse.opened || (fallback.refusedNow && !pending.some((c) => c.kind === 'websocket')))
  for (const c of pending) fallback.lost(c)
  if (sse) fallback.serverDown()
  if (!buffered) return { reason: 'connect_timeout', detail: `no hello within connectTimeoutMs=${connectTimeoutMs}` }
  const detail =
    `SSE ${sse.opened ? 'response arrived' : 'request got no response'} but no event within connectTimeoutMs=${connectTimeoutMs}: ` +
    `a proxy is buffering the stream${
      (typeof process === 'object' && process.env.NODE_ENV !== 'production')
        ? " (the server answers other requests; nginx: `proxy_buffering off;`, and do not hide or ignore the server's X-Accel-Buffering header). `npx surewire doctor <url>` confirms it."
        : ' (npx surewire doctor <url>)'
    }`
  return { reason: 'sse_buffered', detail, error: new SurewireError('transport_error', detail) }
}

/** The status `detail` of a close: the server's own code and message when it said why, else the transport's text. */
export function describeClose(info: TransportClose): string {
  if (info.serverCode === undefined) return info.detail
  return `${info.status ? `HTTP ${info.status} ` : info.code ? `close ${info.code} ` : ''}${info.serverCode}: ${info.serverMessage ?? ''}`.trim()
}
