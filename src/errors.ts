import type { StandardSchemaV1 } from './schema'
import { formatIssues } from './schema'

/** Every error surewire creates has a literal `code` you can switch on. */
export type SurewireErrorCode =
  | 'invalid_message'
  | 'queue_full'
  | 'too_large'
  | 'client_closed'
  | 'auth_failed'
  | 'rejected'
  | 'gave_up'
  | 'bad_config'
  | 'websocket_unavailable'
  | 'transport_error'
  /** Browser tabs without a shared connection, on SSE over HTTP/1.1: more than about five exhaust the browser's 6 connections per host. */
  | 'connection_limit'
  | 'bad_frame'
  | 'server_refused'

/*
 * Developer hints (examples, proxy advice) in error texts are written as
 * `(typeof process === 'object' && process.env.NODE_ENV !== 'production') ? hint : ''`, inline
 * where the error is made: an app's production bundle (its bundler defines NODE_ENV) drops them,
 * and the error keeps its class, code and a message naming what is wrong. Inline, because a
 * bundler folds the condition only there; the `typeof` guard keeps a page without a bundler working.
 * `=== 'object'`, not `!== 'undefined'`: esbuild folds the whole condition away only in this form
 * (the other minifies to `typeof process<"u"` first and stays, once per hint; test/unit/production-messages.test.ts).
 */
export class SurewireError extends Error {
  override name = 'SurewireError'
  // `declare` + an assignment: a parameter property would be emitted as a field and an assignment.
  declare readonly code: SurewireErrorCode
  constructor(code: SurewireErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** A frame that is not valid protocol (bad JSON, unknown `t`, a missing or mistyped field). The connection carries on. */
export class FrameError extends SurewireError {
  override name = 'FrameError'
  declare readonly code: 'bad_frame'
  /** The raw text, truncated to 200 characters. */
  declare readonly raw: string
  constructor(message: string, raw: string) {
    super('bad_frame', message)
    this.raw = raw
  }
}

/** A message failed its schema (`outgoing` on send, or the server's schema for a nack). */
export class ValidationError extends SurewireError {
  override name = 'ValidationError'
  declare readonly issues: ReadonlyArray<StandardSchemaV1.Issue>
  constructor(issues: ReadonlyArray<StandardSchemaV1.Issue>, direction: 'outgoing' | 'incoming') {
    super('invalid_message', `${direction} message does not match its schema: ${formatIssues(issues)}`)
    this.issues = issues
  }
}

/** Misuse of the API or a bad option; the message says what to do instead. */
export class ConfigError extends SurewireError {
  override name = 'ConfigError'
  constructor(message: string, code: 'bad_config' | 'websocket_unavailable' = 'bad_config') {
    super(code, message)
  }
}

/** The server refused the credentials (HTTP 401/403 or close code 4401/4403). The client stops retrying. */
export class AuthError extends SurewireError {
  override name = 'AuthError'
  /** HTTP status (SSE/POST) or WebSocket close code. */
  declare readonly status: number
  constructor(message: string, status: number) {
    super('auth_failed', message)
    this.status = status
  }
}

/**
 * The server refused in the protocol's own words: an `error` frame, or a POST answered with an error
 * body. `fatal` (the server said so, or the code means it, e.g. `origin_not_allowed`): the client has
 * stopped (status `closed`, reason `fatal_error`). Otherwise it reconnects with backoff.
 */
export class ServerRefusalError extends SurewireError {
  override name = 'ServerRefusalError'
  /** Protocol error code from the server, e.g. `origin_not_allowed`, `forbidden`. */
  declare readonly serverCode: string
  declare readonly fatal: boolean
  /** HTTP status of a refused POST or SSE request. */
  declare readonly status?: number
  constructor(serverCode: string, message: string, fatal: boolean, status?: number) {
    super('server_refused', message)
    this.serverCode = serverCode
    this.fatal = fatal
    this.status = status
  }
}

/** The server consumed a sent message but did not accept it (a `nack` frame). */
export class RejectedError extends SurewireError {
  override name = 'RejectedError'
  /** Protocol error code from the server, e.g. `invalid_message`. */
  declare readonly serverCode: string
  constructor(serverCode: string, message: string) {
    super('rejected', `server rejected the message (${serverCode}): ${message}`)
    this.serverCode = serverCode
  }
}

export const isSurewireError = (e: unknown): e is SurewireError => e instanceof SurewireError

/**
 * A short description of anything thrown, for logs and error messages. Never throws (a hostile
 * value's getters or a 10,000-deep array cannot get out of here) and never exceeds `max` characters.
 */
export function errorText(err: unknown, max = 200): string {
  try {
    const m = (err as { message?: unknown } | null)?.message
    const s = typeof m === 'string' ? m : typeof err === 'string' ? err : Object.prototype.toString.call(err)
    return s.length > max ? `${s.slice(0, max)}…` : s
  } catch {
    return 'unknown error'
  }
}
