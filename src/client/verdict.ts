import type { CloseCode } from '../protocol'
import type { StatusReason } from './status'
import type { TransportClose, TransportKind } from './transport'

/**
 * What a transport's end means for the state machine, decided from data only (contract C1:
 * `cause`, `code`, `status`, `serverCode`; never the `detail` text). The state machine acts on
 * the verdict; this is the one place that decides it.
 *
 * - `auth`: the protocol's own auth signal (close 4401, error code `unauthorized`, HTTP 401 on SSE
 *   or POST): one refresh-and-retry with a fresh token, then stop. An HTTP status on a WebSocket
 *   upgrade is never one (uvicorn answers upgrades with 403 where no WebSocket route exists).
 * - `stop`: the server said retrying cannot help (`fatal: true`, a code that means it such as
 *   `origin_not_allowed`, close 4403): status `closed`, reason `fatal_error`.
 * - `ws_failed`: a WebSocket candidate failed before its hello; the fallback decides what next.
 * - `retry`: reconnect with backoff. `refused` (the server answered and said no) counts as a failed
 *   attempt; a connection that was open and dropped does not.
 */
export type Verdict =
  | { do: 'auth'; status: number }
  | { do: 'stop'; serverCode: string; message: string; status?: number }
  | { do: 'ws_failed'; opened: boolean }
  | { do: 'retry'; reason: StatusReason; refused: boolean }

/** Server error codes after which retrying cannot help, even when the frame or body omits `fatal`. */
const FATAL_CODES: ReadonlySet<string> = new Set(['origin_not_allowed'])

/** Does a server error (code + `fatal` flag) end the client? `unauthorized` is an auth failure instead. */
export function isFatalServerError(code: string, fatal: boolean | undefined): boolean {
  return code !== 'unauthorized' && (fatal === true || FATAL_CODES.has(code))
}

// Close codes are written as numbers checked against protocol.ts's CloseCode (`satisfies`: a wrong one fails
// typecheck), so the CloseCode table stays out of the browser bundle.

/** How an open connection's end reads, by cause (`closed` and `post_refused` are decided in judgeClose). */
const LOST: Partial<Record<TransportClose['cause'], StatusReason>> = { post_failed: 'post_failed', post_timeout: 'post_timeout', protocol: 'protocol_error' }

/** Judge how a transport ended. `phase`: before its hello (`candidate`, `probe`) or after (`active`). */
export function judgeClose(kind: TransportKind, phase: 'candidate' | 'active', info: TransportClose): Verdict {
  const { cause, serverCode: code, code: closeCode, status } = info
  // A refused WebSocket upgrade is evidence about the path (a proxy, a server without that route), never about credentials.
  if (kind === 'websocket' && cause === 'refused') return phase === 'active' ? lost('connection_lost') : { do: 'ws_failed', opened: false }
  if (code === 'unauthorized' || closeCode === (4401 satisfies typeof CloseCode.unauthorized) || status === 401) return { do: 'auth', status: status ?? closeCode ?? 0 }
  if (code !== undefined && isFatalServerError(code, info.fatal)) return { do: 'stop', serverCode: code, message: info.serverMessage ?? '', status }
  if (closeCode === (4403 satisfies typeof CloseCode.forbidden)) return { do: 'stop', serverCode: code ?? 'forbidden', message: info.serverMessage ?? info.detail }
  if (phase === 'candidate') {
    return kind === 'websocket' ? { do: 'ws_failed', opened: info.opened } : { do: 'retry', reason: cause === 'refused' || cause === 'protocol' ? 'sse_refused' : 'connect_failed', refused: true }
  }
  if (cause === 'post_refused') return { do: 'retry', reason: 'post_failed', refused: true }
  if (cause !== 'closed') return lost(LOST[cause] ?? 'connection_lost')
  return lost(closeCode === undefined || closeCode === (1000 satisfies typeof CloseCode.normal) || closeCode === (1001 satisfies typeof CloseCode.goingAway) || closeCode === (4409 satisfies typeof CloseCode.replaced) ? 'server_closed' : 'connection_lost')
}

const lost = (reason: StatusReason): Verdict => ({ do: 'retry', reason, refused: false })
