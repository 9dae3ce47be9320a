/**
 * Seeded generators of hostile protocol input, each case with the outcome the
 * other side must produce. The expected outcome is derived from how the case was
 * built (what was broken on purpose), not from the parser under test.
 */
import type { Rng } from './support'

// ---------------------------------------------------------------- shared bits of garbage

const ALPHABET = 'abcxyz{}[]":,.-+0123456789eE \\/tnulfr\u00e9\u2603\ud83d\ude00\t'

/** Random text (no CR/LF when `oneLine`), never a JSON object with a string `t`. */
export function garbage(r: Rng, maxLen = 40, oneLine = true): string {
  for (;;) {
    const len = r.int(0, maxLen)
    let s = ''
    for (let i = 0; i < len; i++) s += r.chance(0.05) && !oneLine ? r.pick(['\n', '\r']) : r.pick([...ALPHABET])
    if (!looksLikeFrame(s)) return s
  }
}

function looksLikeFrame(s: string): boolean {
  try {
    const v = JSON.parse(s) as unknown
    return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { t?: unknown }).t === 'string'
  } catch {
    return false
  }
}

/** Values that are not a sequence number (safe integer ≥ 0). */
const NOT_SEQ: unknown[] = [-1, 1.5, '3', null, true, [], {}, 1e300, -0.5, Number.MAX_SAFE_INTEGER + 2, 'NaN']
/** Values that are not strings. */
const NOT_STRING: unknown[] = [1, null, true, [], {}, 0]

/** Stringify, but allow raw JSON fragments such as 1e400 or -0 (written as `"@raw:…"`). */
function json(v: unknown): string {
  return JSON.stringify(v).replace(/"@raw:([^"]*)"/g, '$1')
}

// ---------------------------------------------------------------- server → client

export type ClientOutcome =
  /** Not protocol: an `error` event carrying a FrameError (code `bad_frame`). */
  | { kind: 'bad' }
  /** A protocol `error` frame: an `error` event carrying a SurewireError (`transport_error`). */
  | { kind: 'server_error' }
  /** A `msg` whose payload fails the app schema: an `invalid` event. */
  | { kind: 'invalid' }
  /** A `msg` delivered to handlers: a `tick` with this `n`, or a huge `chat`. */
  | { kind: 'message'; n?: number; huge?: number }
  /** A `msg` with an id at or below the last one: dropped, counted in stats.duplicates. */
  | { kind: 'duplicate' }
  /** Valid protocol with nothing to show (pong, hb, a stray ack/nack/hello). */
  | { kind: 'ignored' }

export interface ServerCase {
  /** Text frame, or bytes for a binary WebSocket frame. */
  data: string | Uint8Array
  expect: ClientOutcome
  what: string
}

/** State the client-side model needs: the largest message id delivered so far. */
export interface ClientModel {
  lastId: number
  ticks: number
}

/**
 * One hostile (or valid) server frame. `transport` matters only for binary frames,
 * which exist only on WebSocket, and for huge frames (kept rare).
 */
export function serverCase(r: Rng, m: ClientModel, transport: 'websocket' | 'sse'): ServerCase {
  const nextId = () => (m.lastId += r.chance(0.1) ? r.int(2, 50) : 1) // a gap forward is legal
  const roll = r.next()
  if (roll < 0.04) return deepCase(r, m, nextId)
  if (roll < 0.07) return limitCase(r)
  if (roll < 0.2) {
    const n = ++m.ticks
    return { data: json({ t: 'msg', id: nextId(), d: { type: 'tick', n } }), expect: { kind: 'message', n }, what: 'valid tick' }
  }
  if (roll < 0.26 && m.lastId > 0) {
    const id = r.int(Math.max(1, m.lastId - 20), m.lastId)
    return { data: json({ t: 'msg', id, d: { type: 'tick', n: -1 } }), expect: { kind: 'duplicate' }, what: `id ${id} going backwards` }
  }
  if (roll < 0.35) {
    const d = r.pick<unknown>([{ type: 'tick', n: 'x' }, { type: 'nope' }, null, 42, [], {}, 'tick', { type: 'chat', from: 1, text: 'x' }, { n: 1 }])
    return { data: json({ t: 'msg', id: nextId(), d }), expect: { kind: 'invalid' }, what: 'payload failing the schema' }
  }
  if (roll < 0.38) {
    // Prototype pollution attempt: zod builds a fresh object; nothing may leak into Object.prototype.
    const n = ++m.ticks
    const text = `{"t":"msg","id":${nextId()},"d":{"__proto__":{"polluted":true},"type":"tick","n":${n},"constructor":{"prototype":{"polluted":true}}}}`
    return { data: text, expect: { kind: 'message', n }, what: '__proto__ in payload' }
  }
  if (roll < 0.52) return { data: invalidJson(r), expect: { kind: 'bad' }, what: 'invalid JSON' }
  if (roll < 0.68) return { data: wrongTypes(r), expect: { kind: 'bad' }, what: 'wrong field types' }
  if (roll < 0.75) {
    const t = r.pick<unknown>(['MSG', 'message', '__proto__', 'constructor', 'toString', '', ' msg', 'h\u00e9llo', 'ack ', garbage(r, 8)])
    return { data: json({ t, id: 1, d: {} }), expect: { kind: 'bad' }, what: 'unknown t' }
  }
  if (roll < 0.8) {
    const code = r.pick(['bad_frame', 'server_error', 'rate_limited', 'too_large', 'invalid_message', 'no_such_code', ''])
    const f: Record<string, unknown> = { t: 'error', code }
    // Without a string `message` it is a bad frame (every field of every server frame is type-checked).
    if (r.chance(0.7)) f.message = garbage(r, 30)
    else if (r.chance(0.5)) f.message = r.pick(NOT_STRING)
    return { data: json(f), expect: { kind: typeof f.message === 'string' ? 'server_error' : 'bad' }, what: `error frame ${code}` }
  }
  if (roll < 0.88) {
    const f = r.pick<Record<string, unknown>>([
      { t: 'pong' },
      { t: 'pong', n: 'x' },
      { t: 'hb' },
      { t: 'hb', extra: [1, 2] },
      { t: 'ack', seq: r.int(0, 1e6) },
      { t: 'nack', seq: r.int(1, 1e6), code: 'invalid_message', message: 'x' },
      { t: 'hello', sid: garbage(r, 10), hb: 1000, resumed: r.chance(0.5), maxFrameBytes: 1 },
    ])
    return { data: json(f), expect: { kind: 'ignored' }, what: `stray ${f.t}` }
  }
  if (roll < 0.884) {
    const size = r.int(1, 3) * 1_000_000
    if (r.chance(0.5)) {
      return { data: json({ t: 'msg', id: nextId(), d: { type: 'chat', from: 'big', text: 'x'.repeat(size) } }), expect: { kind: 'message', huge: size }, what: 'huge valid frame' }
    }
    return { data: '{"t":"msg","id":' + '9'.repeat(size), expect: { kind: 'bad' }, what: 'huge broken frame' }
  }
  if (roll < 0.93 && transport === 'websocket') {
    const bytes = new Uint8Array(r.int(0, 64)).map(() => r.int(0, 255))
    return { data: bytes, expect: { kind: 'bad' }, what: 'binary frame' }
  }
  // Structurally odd but valid: extra fields, unicode, whitespace around the JSON.
  const n = ++m.ticks
  return {
    data: ` \t${json({ t: 'msg', id: nextId(), d: { type: 'tick', n }, x: '\u2603\ud83d\ude00', y: [null] })}\t `,
    expect: { kind: 'message', n },
    what: 'valid tick with extras',
  }
}

/** JSON text of a value nested 1,000–10,000 levels deep: arrays or objects (built as text). */
export function deepText(r: Rng): string {
  const depth = r.int(1_000, 10_000)
  return r.chance(0.5) ? '['.repeat(depth) + '0' + ']'.repeat(depth) : '{"a":'.repeat(depth) + '"x"' + '}'.repeat(depth)
}

/** A frame with one field (or an extra field) replaced by a deep value, as text. */
function withDeep(f: Record<string, unknown>, field: string, r: Rng): string {
  return json({ ...f, [field]: '@deep' }).replace('"@deep"', deepText(r))
}

/**
 * Deep nesting in every field of every server frame. A field the protocol types (t, id, seq,
 * topic, code, message, sid, hb, resumed, reset, maxFrameBytes, fatal) makes a bad frame; `d` is
 * delivered to the schema (which refuses it); an unknown field or the echoed `n` changes nothing.
 */
function deepCase(r: Rng, m: ClientModel, nextId: () => number): ServerCase {
  const kind = r.pick(['msg', 'hello', 'ack', 'nack', 'pong', 'hb', 'error', 't'] as const)
  const extra = r.chance(0.25) ? `x${r.int(0, 9)}` : undefined
  if (kind === 't') return { data: withDeep({ id: 1, d: 1 }, 't', r), expect: { kind: 'bad' }, what: 'deep t' }
  if (kind === 'msg') {
    if (extra) {
      const n = ++m.ticks
      return { data: withDeep({ t: 'msg', id: nextId(), d: { type: 'tick', n } }, extra, r), expect: { kind: 'message', n }, what: 'msg with a deep extra field' }
    }
    if (r.chance(0.5)) return { data: withDeep({ t: 'msg', id: nextId() }, 'd', r), expect: { kind: 'invalid' }, what: 'msg with a deep d' }
    if (r.chance(0.3)) return { data: withDeep({ t: 'msg', id: 1, d: 1 }, 'topic', r), expect: { kind: 'bad' }, what: 'msg with a deep topic' }
    return { data: withDeep({ t: 'msg', d: { type: 'tick', n: 1 } }, 'id', r), expect: { kind: 'bad' }, what: 'msg with a deep id' }
  }
  const frames: Record<string, Record<string, unknown>> = {
    hello: { t: 'hello', sid: 's', hb: 1_000, resumed: false, maxFrameBytes: 1_000, reset: 'session_unknown', seq: 0 },
    ack: { t: 'ack', seq: 1 },
    nack: { t: 'nack', seq: 1, code: 'invalid_message', message: 'x' },
    pong: { t: 'pong', n: 1 },
    hb: { t: 'hb' },
    error: { t: 'error', code: 'server_error', message: 'x', fatal: false },
  }
  const f = frames[kind]!
  const field = extra ?? r.pick(Object.keys(f).filter((k) => k !== 't'))
  if (field === undefined || extra || field === 'n') {
    const to = extra ?? field ?? 'x'
    return { data: withDeep(f, to, r), expect: { kind: kind === 'error' ? 'server_error' : 'ignored' }, what: `${kind} with a deep ${to}` }
  }
  return { data: withDeep(f, field, r), expect: { kind: 'bad' }, what: `${kind} with a deep ${field}` }
}

/** Numbers at and just past the protocol's limits (2^53 − 1 for ids and seqs; 2^31 and beyond for hb). */
function limitCase(r: Rng): ServerCase {
  const max = Number.MAX_SAFE_INTEGER
  return r.pick<ServerCase>([
    { data: json({ t: 'ack', seq: max }), expect: { kind: 'ignored' }, what: 'ack at 2^53 − 1' },
    { data: `{"t":"ack","seq":${max + 1}}`, expect: { kind: 'bad' }, what: 'ack at 2^53' },
    { data: json({ t: 'nack', seq: max, code: 'x', message: '' }), expect: { kind: 'ignored' }, what: 'nack at 2^53 − 1' },
    { data: '{"t":"nack","seq":9007199254740993,"code":"x","message":""}', expect: { kind: 'bad' }, what: 'nack past 2^53' },
    { data: json({ t: 'hello', sid: '', hb: 2 ** 31, resumed: true, maxFrameBytes: max }), expect: { kind: 'ignored' }, what: 'stray hello at the limits' },
    { data: json({ t: 'hello', sid: 's', hb: 1, resumed: true, maxFrameBytes: 2 ** 53 }), expect: { kind: 'bad' }, what: 'hello maxFrameBytes 2^53' },
    { data: json({ t: 'hello', sid: 's', hb: -1, resumed: true, maxFrameBytes: 1 }), expect: { kind: 'bad' }, what: 'hello hb −1' },
    { data: `{"t":"msg","id":${max + 1},"d":1}`, expect: { kind: 'bad' }, what: 'msg id 2^53' },
    { data: json({ t: 'error', code: '', message: '', fatal: false }), expect: { kind: 'server_error' }, what: 'error with empty strings' },
    { data: json({ t: 'error', code: 'x', message: 'y', fatal: 0 }), expect: { kind: 'bad' }, what: 'error with a numeric fatal' },
    { data: json({ t: 'hello', sid: 's', hb: 1, resumed: true, maxFrameBytes: 1, reset: 'nope' }), expect: { kind: 'bad' }, what: 'hello with an unknown reset' },
  ])
}

function invalidJson(r: Rng): string {
  const valid = json({ t: 'msg', id: 1, d: { type: 'tick', n: 1 } })
  return r.pick([
    () => garbage(r),
    () => valid.slice(0, r.int(0, valid.length - 1)), // truncated
    () => valid + r.pick(['}', ',', ']', 'x']), // trailing junk
    () => valid.replace(/"/g, "'"),
    () => '{t:"msg"}',
    () => '{"t":"msg","id":NaN,"d":1}',
    () => '{"t":"msg",}',
    () => '',
    () => '   ',
    () => '\u0000',
    () => '{"t":"msg","id":1,"d":"\\x41"}',
  ])()
}

function wrongTypes(r: Rng): string {
  return r.pick([
    () => json(r.pick<unknown>([[], null, 42, 'msg', true, [{ t: 'msg' }], -0])),
    () => json({}),
    () => json({ t: r.pick(NOT_STRING) }),
    () => json({ t: 'msg', d: { type: 'tick', n: 1 } }), // no id
    () => json({ t: 'msg', id: r.pick(NOT_SEQ), d: { type: 'tick', n: 1 } }),
    () => '{"t":"msg","id":1e400,"d":1}', // Infinity
    () => json({ t: 'msg', id: 5 }), // no d
    () => json({ t: 'ack' }),
    () => json({ t: 'ack', seq: r.pick(NOT_SEQ) }),
    () => json({ t: 'nack', seq: 1 }), // no code
    () => json({ t: 'nack', seq: r.pick(NOT_SEQ), code: 'x' }),
    () => json({ t: 'nack', seq: 1, code: r.pick(NOT_STRING) }),
    () => json({ t: 'error' }),
    () => json({ t: 'error', code: r.pick(NOT_STRING), message: 'x' }),
    () => json({ t: 'hello', sid: r.pick(NOT_STRING), hb: 1, resumed: true }),
    () => json({ t: 'hello', sid: 's', hb: r.pick(NOT_SEQ), resumed: true }),
    () => json({ t: 'hello', sid: 's', hb: 1, resumed: r.pick([1, 'true', null]) }),
  ])()
}

// ---------------------------------------------------------------- SSE framing around the frames

export interface SseCase {
  text: string
  /** Outcomes, in order: one per dispatched event plus one `bad` per line the SSE parser rejects. */
  expect: ClientOutcome[]
  what: string
}

/**
 * Wrap a server case as an SSE event, sometimes with noise lines around it that a
 * compliant parser must ignore (comments, `retry: 0`, `id:` going backwards, `event:`),
 * or that it reports (unknown fields, a non-numeric retry: one `bad` each).
 */
export function sseCase(r: Rng, m: ClientModel): SseCase {
  const c = serverCase(r, m, 'sse')
  // One line ending per event: a CR line followed by an LF blank line would read as one CRLF.
  const eolText = r.pick(['\n', '\n', '\n', '\r\n', '\r'])
  const eol = () => eolText
  const lines: string[] = []
  const before: ClientOutcome[] = []
  const noise = r.int(0, 2)
  for (let i = 0; i < noise; i++) {
    const k = r.int(0, 6)
    if (k === 0) lines.push(`: ${garbage(r, 20)}`)
    else if (k === 1) lines.push(`retry: ${r.pick(['0', '1', '999999999'])}`)
    else if (k === 2) lines.push(`id: ${r.int(0, 10)}`) // ids going backwards: the client uses the frame's own id
    else if (k === 3) lines.push(`event: ${r.pick(['message', 'tick', 'x'])}`)
    else if (k === 4) {
      lines.push(`retry: ${r.pick(['-1', 'abc', '1.5', ''])}`)
      before.push({ kind: 'bad' })
    } else if (k === 5) {
      lines.push(`${r.pick(['foo', 'Data', 'ID', 'x-y'])}: ${garbage(r, 10)}`)
      before.push({ kind: 'bad' })
    } else lines.push(':') // empty comment
  }
  const data = c.data as string
  // Valid JSON may be split over several data: lines (joined with \n, which JSON allows between tokens).
  if (c.what === 'valid tick' && r.chance(0.2)) {
    for (const part of data.split(',').map((p, i, all) => (i < all.length - 1 ? p + ',' : p))) lines.push(`data: ${part}`)
  } else lines.push(`data:${r.chance(0.8) ? ' ' : ''}${data}`)
  return { text: lines.join(eol()) + eol() + eol(), expect: [...before, c.expect], what: c.what }
}

/** Split bytes at random points (including inside multi-byte UTF-8 sequences and CRLF pairs). */
export function chop(r: Rng, bytes: Uint8Array, maxPiece = 64): Uint8Array[] {
  const out: Uint8Array[] = []
  let i = 0
  while (i < bytes.length) {
    const roll = r.next()
    const n = roll < 0.85 ? r.int(1, maxPiece) : roll < 0.95 ? r.int(maxPiece, maxPiece * 8) : r.int(4_096, 65_536)
    out.push(bytes.subarray(i, i + n))
    i += n
  }
  return out
}

// ---------------------------------------------------------------- client → server

export type ServerReply =
  | { t: 'error' } // bad_frame
  | { t: 'ack'; seq: number }
  | { t: 'nack'; seq: number; code: string }
  | { t: 'pong' }

export interface ClientCase {
  data: string | Uint8Array
  /** The reply the reference server must send for this frame. */
  expect: ServerReply
  /** The app-level message this frame delivers to the server's handlers, if any. */
  delivers?: unknown
  what: string
}

export interface ServerModel {
  lastSeq: number
  nacked: Map<number, string>
}

/** One hostile (or valid) client frame for the reference server over WebSocket. */
export function clientCase(r: Rng, m: ServerModel): ClientCase {
  const roll = r.next()
  const next = () => m.lastSeq + 1
  if (roll < 0.2) {
    const seq = next()
    m.lastSeq = seq
    const d = { type: 'count', n: seq }
    return { data: json({ t: 'msg', seq, d }), expect: { t: 'ack', seq }, delivers: d, what: 'valid msg' }
  }
  if (roll < 0.28) {
    const seq = next()
    m.lastSeq = seq
    m.nacked.set(seq, 'invalid_message')
    const d = r.pick<unknown>([{ type: 'count', n: 'x' }, { type: 'nope' }, null, 1, [], { type: 'chat', text: 7 }])
    return { data: json({ t: 'msg', seq, d }), expect: { t: 'nack', seq, code: 'invalid_message' }, what: 'payload failing the schema' }
  }
  if (roll < 0.33 && m.lastSeq > 0) {
    const seq = r.int(Math.max(1, m.lastSeq - 10), m.lastSeq)
    const nack = m.nacked.get(seq)
    // A resend of something already handled: acked again (or its nack repeated), never delivered twice.
    return {
      data: json({ t: 'msg', seq, d: { type: 'count', n: -seq } }),
      expect: nack ? { t: 'nack', seq, code: nack } : { t: 'ack', seq },
      what: `resend of seq ${seq}`,
    }
  }
  if (roll < 0.37) {
    const seq = next() + r.int(1, 1000)
    return { data: json({ t: 'msg', seq, d: { type: 'count', n: 1 } }), expect: { t: 'nack', seq, code: 'bad_frame' }, what: 'sequence gap' }
  }
  if (roll < 0.42) {
    const seq = next()
    m.lastSeq = seq
    return { data: json({ t: r.pick(['sub', 'unsub'] as const), seq, topic: garbage(r, 12) }), expect: { t: 'ack', seq }, what: 'sub/unsub' }
  }
  if (roll < 0.47) {
    const f = r.chance(0.5) ? { t: 'ping' } : { t: 'ping', n: r.pick<unknown>([1, 'x', null, [1]]) }
    // `n` is echoed back, so it must be a number (PROTOCOL.md); anything else is bad_frame.
    return { data: json(f), expect: 'n' in f && typeof f.n !== 'number' ? { t: 'error' } : { t: 'pong' }, what: 'ping' }
  }
  if (roll < 0.52) {
    return { data: new Uint8Array(r.int(0, 64)).map(() => r.int(0, 255)), expect: { t: 'error' }, what: 'binary frame' }
  }
  if (roll < 0.68) return { data: invalidJson(r), expect: { t: 'error' }, what: 'invalid JSON' }
  if (roll < 0.76) {
    const t = r.pick<unknown>(['MSG', 'hello', 'ack', 'pong', '__proto__', '', 'Bye', 1, null])
    return { data: json({ t, seq: next(), d: {} }), expect: { t: 'error' }, what: 'unknown or wrong t' }
  }
  return {
    data: r.pick([
      () => json(r.pick<unknown>([[null], null, 1, 'msg', [{ t: 'msg', seq: 1 }], [{ t: 'ping' }, { t: 'ping', n: 'x' }]])), // an array with a bad element: nothing in it is processed
      () => json({ t: 'msg', d: { type: 'count', n: 1 } }),
      () => json({ t: 'msg', seq: r.pick([0, ...NOT_SEQ]), d: 1 }),
      () => json({ t: 'msg', seq: next() }), // no d
      () => json({ t: r.pick(['sub', 'unsub']), seq: next(), topic: r.pick(NOT_STRING) }),
      () => json({ t: 'sub', seq: r.pick([0, ...NOT_SEQ]), topic: 'x' }),
      () => '{"t":"msg","seq":1e400,"d":1}',
      () => `{"t":"msg","seq":${next()},"d":${'['.repeat(10_000)}${']'.repeat(10_000)}}` + 'x', // deep and broken
    ])(),
    expect: { t: 'error' },
    what: 'wrong field types',
  }
}
