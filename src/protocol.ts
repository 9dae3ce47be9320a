/**
 * The surewire wire protocol, version 1: frame types shared by the client and
 * the reference server. docs/PROTOCOL.md is the prose version of this file.
 *
 * Every frame is one JSON object with a `t` (type) field, sent as a WebSocket
 * text message, as the `data:` of one SSE event, or as one element of the JSON
 * array in a POST body / POST response.
 */

import { FrameError } from './errors'

export { FrameError }

/** Protocol version, sent by the client as the `v` query parameter. */
export const PROTOCOL_VERSION = 1

/** The reference server's `maxFrameBytes`; the client assumes it until a hello says otherwise. */
export const DEFAULT_MAX_FRAME_BYTES = 1_048_576

/** The two transports a session can be attached over. */
export type TransportKind = 'websocket' | 'sse'

/**
 * Heartbeat interval (`hello.hb`, ms) a server uses unless configured otherwise, and what a client
 * assumes before the first hello: SSE heartbeats at least this often, WebSocket pings at least this often.
 */
export const DEFAULT_HEARTBEAT_MS = 15_000

/** Largest delay a timer can take (setTimeout overflows past 2^31 − 1 ms and fires at once). Time options and `hello.hb` stay within it. */
export const MAX_TIMER_MS = 2_147_483_647

/** Bounds on client frames: anything deeper or longer is `bad_frame` (checked before it reaches a handler). */
export const CLIENT_FRAME_LIMITS = {
  /** Nesting depth of `d` (objects and arrays); a schema validator or a handler recursing into it stays safe. */
  maxDepth: 64,
  /** Length of a `sub` / `unsub` topic, in UTF-16 code units. */
  maxTopicLength: 256,
} as const

/** Query parameter names used by the client when opening a transport (and `notices=1`: it reads {@link NoticeFrame}s). */
export const QUERY = {
  version: 'v',
  session: 'sid',
  lastId: 'last',
  token: 'access_token',
} as const

// ---------------------------------------------------------------- server → client

/** First frame on every connection: the session is ready. */
export interface HelloFrame {
  t: 'hello'
  /** Session token: unguessable; send it back to resume or to POST. */
  sid: string
  /** Server heartbeat interval in ms. SSE: the server sends `hb` at least this often. WebSocket: the client pings at least this often. */
  hb: number
  /** True when the requested session was found and every message after `last` is replayed next. */
  resumed: boolean
  /** Why a requested resume did not happen. Present only when the client asked to resume and `resumed` is false. */
  reset?: 'session_unknown' | 'replay_window_exceeded'
  /** Largest frame (bytes of UTF-8 JSON) the server accepts. */
  maxFrameBytes: number
  /**
   * The highest client `seq` this session has consumed (accepted or nacked); 0 for a new session.
   * Lets a client that did not send every frame itself (a tab taking over a shared connection)
   * know which of its frames the server has seen. Optional: older servers omit it.
   */
  seq?: number
  /**
   * The server accepts a JSON array of client frames in one WebSocket text message (checked and
   * processed like a POST body). Optional (additive): absent means one frame per message.
   */
  batch?: boolean
}
/** An application message. `id` increases by one per message within a session. */
export interface MessageFrame {
  t: 'msg'
  id: number
  /** The topic it was published to (`publish(topic, m)`); absent for messages to the session itself (`broadcast()`, `conn.send()`). */
  topic?: string
  d: unknown
}
/** Cumulative acknowledgement: every client frame with `seq` ≤ this was accepted. */
export interface AckFrame {
  t: 'ack'
  seq: number
}
/** Per-frame rejection: the client frame with this `seq` was consumed but not accepted. */
export interface NackFrame {
  t: 'nack'
  seq: number
  code: ErrorCode
  message: string
}
export interface PongFrame {
  t: 'pong'
  n?: number
}
/** SSE heartbeat. */
export interface HeartbeatFrame {
  t: 'hb'
}
/** A protocol-level error. `fatal: true` means the server closes the connection next and the client must not retry. */
export interface ErrorFrame {
  t: 'error'
  code: ErrorCode
  message: string
  fatal?: boolean
}

/**
 * The server's state changed while the connection stays open (optional, additive): sent only to a
 * client that connected with the query parameter `notices=1`. `server_degraded`: the server cannot do
 * its work fully (`code` says why, e.g. `broker_unavailable`: it cannot reach Redis; sends are not
 * acknowledged and messages are held until it is back); `server_recovered`: it can again. A client
 * ignores a `reason` it does not know.
 */
export interface NoticeFrame {
  t: 'notice'
  reason: string
  code?: string
  message?: string
}

export type ServerFrame = HelloFrame | MessageFrame | AckFrame | NackFrame | PongFrame | HeartbeatFrame | ErrorFrame | NoticeFrame

// ---------------------------------------------------------------- client → server

/** An application message from the client, numbered per session from 1. */
export interface ClientMessageFrame {
  t: 'msg'
  seq: number
  d: unknown
}
export interface SubscribeFrame {
  t: 'sub' | 'unsub'
  seq: number
  topic: string
}
export interface PingFrame {
  t: 'ping'
  n?: number
}
/** The client is done with the session; the server forgets it at once. */
export interface ByeFrame {
  t: 'bye'
}

export type SequencedClientFrame = ClientMessageFrame | SubscribeFrame
export type ClientFrame = SequencedClientFrame | PingFrame | ByeFrame

// ---------------------------------------------------------------- codes

/** Error codes carried by `error` and `nack` frames and by POST error bodies. */
export type ErrorCode =
  | 'bad_frame'
  | 'invalid_message'
  | 'too_large'
  | 'unauthorized'
  | 'forbidden'
  | 'session_unknown'
  | 'rate_limited'
  | 'server_error'
  /** A browser `Origin` the server does not accept (WebSocket: error frame + close 4403; SSE/POST: HTTP 403). Fatal. */
  | 'origin_not_allowed'
  /** A WebSocket handshake reached the server without `Upgrade` (a proxy dropped it): HTTP 426. Fall back to SSE. */
  | 'upgrade_headers_dropped'
  /** A WebSocket handshake reached an endpoint that cannot upgrade (the Fetch handler): HTTP 426. Fall back to SSE. */
  | 'websocket_unsupported'
  /** The client read too slowly: more than the server's per-connection bound was queued. Reconnect and resume. */
  | 'slow_consumer'

/** WebSocket close codes used by the protocol. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  tooLarge: 1009,
  /** The server failed (e.g. `authenticate()` threw); retry with backoff. */
  internalError: 1011,
  /** The server is draining for a restart (`realtime.drain()`): reconnect at once, the session resumes on another process. */
  serviceRestart: 1012,
  badFrame: 4400,
  unauthorized: 4401,
  forbidden: 4403,
  /** The session was taken over by a newer connection (reconnect or transport switch). */
  replaced: 4409,
  /** No ping from the client within 3 × hb. */
  idleTimeout: 4408,
  /** More outgoing bytes were queued for this connection than the server allows (the client stopped reading). Reconnect and resume. */
  slowConsumer: 4429,
} as const

/** Close codes after which a client must not reconnect. */
export function isFatalCloseCode(code: number): boolean {
  return code === CloseCode.unauthorized || code === CloseCode.forbidden
}

// ---------------------------------------------------------------- parsing

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
const isSeq = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0

/** The JSON value of a frame's text, or the FrameError saying it is not JSON (no JSON value is a FrameError). */
function readJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return new FrameError('frame is not valid JSON', text.slice(0, 200))
  }
}

function parseJson(text: string): unknown {
  const v = readJson(text)
  if (v instanceof FrameError) throw v
  return v
}

/** Decode one server frame's text: the frame, or the FrameError saying why it is not one. Never throws. */
export function decodeServerFrame(text: string): ServerFrame | FrameError {
  const v = readJson(text)
  return v instanceof FrameError ? v : toServerFrame(v, text)
}

/** Parse one server frame. Throws FrameError on anything that is not a well-formed v1 frame. */
export function parseServerFrame(text: string): ServerFrame {
  const f = decodeServerFrame(text)
  if (f instanceof FrameError) throw f
  return f
}

const RESETS: readonly unknown[] = ['session_unknown', 'replay_window_exceeded']

/** The check for each field kind of {@link SERVER_FIELDS}: true, or the words for what the value must be. */
const KINDS: Record<string, (v: unknown) => true | string> = {
  s: (v) => typeof v === 'string' || 'a string',
  i: (v) => isSeq(v) || 'an integer',
  b: (v) => typeof v === 'boolean' || 'a boolean',
  r: (v) => RESETS.includes(v) || RESETS.join(' or '),
  a: () => true,
}

/**
 * Every field each server frame defines, as `name:kind` (kinds in {@link KINDS}; upper case: optional;
 * `a`: any value, but present), compiled once into `[key, optional, check]` per field (nothing is split
 * per frame). `n` of a pong is the client's own value echoed back, never read; a notice's `message` is
 * for logs, never read.
 */
const SERVER_FIELDS = new Map<string, [string, boolean, (typeof KINDS)[string]][]>()
for (const row of 'msg id:i d:a topic:S,hello sid:s hb:i resumed:b maxFrameBytes:i seq:I reset:R,ack seq:i,nack seq:i code:s message:s,pong,hb,error code:s message:s fatal:B,notice reason:s code:S'.split(',')) {
  const [t, ...fields] = row.split(' ')
  SERVER_FIELDS.set(
    t!,
    fields.map((spec) => {
      const [key, kind] = spec.split(':') as [string, string]
      const k = kind.toLowerCase()
      return [key, k !== kind, KINDS[k]!]
    }),
  )
}

/** Why a parsed value is not a server frame, or undefined when it is one. Every field a frame defines is type-checked. */
function serverFrameProblem(v: unknown): string | undefined {
  // Of JSON values (every caller's), only an object can have a string `t`.
  if (typeof (v as { t?: unknown } | null)?.t !== 'string') return 'frame is not an object with a string `t`'
  const f = v as Record<string, unknown> & { t: string }
  // The frame of every message, checked without the table walk (the same rules as its row).
  if (f.t === 'msg' && isSeq(f.id) && 'd' in f && (f.topic === undefined || typeof f.topic === 'string')) return undefined
  const fields = SERVER_FIELDS.get(f.t)
  if (fields === undefined) return `unknown frame type ${JSON.stringify(f.t.slice(0, 40))}`
  for (const [key, optional, check] of fields) {
    const v = f[key]
    const ok = v === undefined ? optional || key in f || 'present' : check(v)
    if (ok !== true) return `${f.t} frame \`${key}\` must be ${ok}`
  }
  return undefined
}

/** Check an already-parsed server frame (POST responses are arrays of these): the frame, or the FrameError saying why not. */
export function toServerFrame(f: unknown, raw = ''): ServerFrame | FrameError {
  const why = serverFrameProblem(f)
  return why === undefined ? (f as ServerFrame) : new FrameError(why, raw.slice(0, 200))
}

/**
 * Is `v` nested (objects/arrays) deeper than `max` levels? Recursive, but it stops at `max`
 * levels, so a hostile depth cannot overflow the stack; allocates nothing.
 */
function deeperThan(v: unknown, max: number): boolean {
  if (typeof v !== 'object' || v === null) return false
  if (max <= 0) return true
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (deeperThan(v[i], max - 1)) return true
    return false
  }
  for (const k in v) if (deeperThan((v as Record<string, unknown>)[k], max - 1)) return true
  return false
}

/**
 * Check one parsed client frame. Throws FrameError. Every field the server stores or echoes is
 * type- and size-checked here (see CLIENT_FRAME_LIMITS), so hostile input is `bad_frame`, never
 * a server error.
 */
export function checkClientFrame(f: unknown, raw = ''): ClientFrame {
  const bad = (why: string) => new FrameError(why, raw.slice(0, 200))
  if (!isObj(f) || typeof f.t !== 'string') throw bad('frame is not an object with a string `t`')
  switch (f.t) {
    case 'msg':
      if (!isSeq(f.seq) || f.seq < 1 || !('d' in f)) throw bad('msg frame needs an integer `seq` ≥ 1 and `d`')
      if (deeperThan(f.d, CLIENT_FRAME_LIMITS.maxDepth)) throw bad(`msg \`d\` is nested deeper than ${CLIENT_FRAME_LIMITS.maxDepth} levels`)
      return f as unknown as ClientMessageFrame
    case 'sub':
    case 'unsub':
      if (!isSeq(f.seq) || f.seq < 1 || typeof f.topic !== 'string') throw bad(`${f.t} frame needs \`seq\` and a string \`topic\``)
      if (f.topic.length > CLIENT_FRAME_LIMITS.maxTopicLength) throw bad(`${f.t} \`topic\` is longer than ${CLIENT_FRAME_LIMITS.maxTopicLength} characters`)
      return f as unknown as SubscribeFrame
    case 'ping':
      if (f.n !== undefined && !Number.isFinite(f.n)) throw bad('ping `n` must be a number when present')
      return f as unknown as PingFrame
    case 'bye':
      return f as unknown as ByeFrame
    default:
      throw bad(`unknown frame type ${JSON.stringify(f.t).slice(0, 40)}`)
  }
}

/** Parse one client frame from text. Throws FrameError. */
export function parseClientFrame(text: string): ClientFrame {
  return checkClientFrame(parseJson(text), text)
}

/** Parse a POST body: a JSON array of client frames. Throws FrameError. */
export function parseClientBatch(text: string): ClientFrame[] {
  const v = parseJson(text)
  if (!Array.isArray(v)) throw new FrameError('POST body must be a JSON array of frames', text.slice(0, 200))
  return checkClientFrames(v, text)
}

/**
 * Parse one WebSocket text message: one client frame, or (servers whose hello says `batch: true`)
 * a JSON array of client frames, checked like a POST body: one bad element makes the whole
 * message a bad frame. Throws FrameError.
 */
export function parseClientMessage(text: string): ClientFrame[] {
  const v = parseJson(text)
  return Array.isArray(v) ? checkClientFrames(v, text) : [checkClientFrame(v, text)]
}

function checkClientFrames(v: unknown[], text: string): ClientFrame[] {
  for (let i = 0; i < v.length; i++) checkClientFrame(v[i], text)
  return v as ClientFrame[]
}

/** UTF-8 byte length of a string without allocating a buffer. */
export function utf8Length(s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    // A valid surrogate pair is 4 bytes; a lone surrogate is encoded as U+FFFD (3 bytes).
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : (c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? (i++, 4) : 3
  }
  return n
}
