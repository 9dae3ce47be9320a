import type { ErrorCode, ServerFrame } from '../../protocol'

/** Codes after which the client must not retry (the frame / body says `fatal: true`). */
const FATAL: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['unauthorized', 'forbidden', 'origin_not_allowed'])

export const errorFrame = (code: ErrorCode, message: string): ServerFrame => ({ t: 'error', code, message, ...(FATAL.has(code) ? { fatal: true } : {}) })

/** The body of every HTTP error: a JSON array holding one `error` frame. */
export const errorBody = (code: ErrorCode, message: string): ServerFrame[] => [
  { t: 'error', code, message, fatal: FATAL.has(code) },
]

/** A complete HTTP answer. */
export interface CoreReply {
  readonly kind: 'reply'
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string | null
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): CoreReply {
  return { kind: 'reply', status, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers }, body: JSON.stringify(body) }
}

export const fail = (status: number, code: ErrorCode, message: string, headers: Record<string, string> = {}): CoreReply =>
  json(status, errorBody(code, message), headers)
