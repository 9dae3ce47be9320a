import { describe, expect, it } from 'vitest'
import {
  CloseCode,
  FrameError,
  isFatalCloseCode,
  parseClientBatch,
  parseClientFrame,
  parseServerFrame,
  utf8Length,
  type ClientFrame,
  type ServerFrame,
} from '../src/protocol'

/** Run `fn`, expect a FrameError, return it. */
function frameError(fn: () => unknown): FrameError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(FrameError)
    const e = err as FrameError
    expect(e.code).toBe('bad_frame')
    expect(e.name).toBe('FrameError')
    expect(e.message).not.toBe('')
    return e
  }
  throw new Error('expected a FrameError, nothing was thrown')
}

const validServer: ServerFrame[] = [
  { t: 'hello', sid: 'abc', hb: 15_000, resumed: false, maxFrameBytes: 1024 },
  { t: 'hello', sid: 'abc', hb: 15_000, resumed: false, reset: 'session_unknown', maxFrameBytes: 1024 },
  { t: 'hello', sid: 'abc', hb: 0, resumed: true, maxFrameBytes: 1024 },
  { t: 'msg', id: 1, d: { type: 'tick', n: 1 } },
  { t: 'msg', id: 0, d: null },
  { t: 'ack', seq: 0 },
  { t: 'ack', seq: 42 },
  { t: 'nack', seq: 3, code: 'invalid_message', message: 'type: Invalid input' },
  { t: 'pong' },
  { t: 'pong', n: 7 },
  { t: 'hb' },
  { t: 'error', code: 'bad_frame', message: 'nope' },
  { t: 'error', code: 'unauthorized', message: 'nope', fatal: true },
]

const invalidServer: [string, unknown][] = [
  ['hello without sid', { t: 'hello', hb: 1, resumed: false, maxFrameBytes: 1 }],
  ['hello with string hb', { t: 'hello', sid: 'a', hb: '1', resumed: false, maxFrameBytes: 1 }],
  ['hello without resumed', { t: 'hello', sid: 'a', hb: 1, maxFrameBytes: 1 }],
  ['msg without d', { t: 'msg', id: 1 }],
  ['msg without id', { t: 'msg', d: 1 }],
  ['msg with negative id', { t: 'msg', id: -1, d: 1 }],
  ['msg with fractional id', { t: 'msg', id: 1.5, d: 1 }],
  ['msg with string id', { t: 'msg', id: '1', d: 1 }],
  ['ack without seq', { t: 'ack' }],
  ['ack with negative seq', { t: 'ack', seq: -1 }],
  ['ack with fractional seq', { t: 'ack', seq: 0.5 }],
  ['nack without code', { t: 'nack', seq: 1, message: 'x' }],
  ['nack without seq', { t: 'nack', code: 'x', message: 'x' }],
  ['error without code', { t: 'error', message: 'x' }],
  ['unknown t', { t: 'welcome' }],
  ['client-only t', { t: 'ping' }],
  ['numeric t', { t: 1 }],
  ['missing t', { id: 1, d: 1 }],
]

const validClient: ClientFrame[] = [
  { t: 'msg', seq: 1, d: { type: 'echo', text: 'hi' } },
  { t: 'msg', seq: 9007199254740991, d: null },
  { t: 'sub', seq: 2, topic: 'room:1' },
  { t: 'unsub', seq: 3, topic: '' },
  { t: 'ping' },
  { t: 'ping', n: 5 },
  { t: 'bye' },
]

const invalidClient: [string, unknown][] = [
  ['msg without d', { t: 'msg', seq: 1 }],
  ['msg without seq', { t: 'msg', d: 1 }],
  ['msg with seq 0', { t: 'msg', seq: 0, d: 1 }],
  ['msg with negative seq', { t: 'msg', seq: -1, d: 1 }],
  ['msg with fractional seq', { t: 'msg', seq: 1.5, d: 1 }],
  ['msg with unsafe seq', { t: 'msg', seq: 2 ** 53, d: 1 }],
  ['msg with string seq', { t: 'msg', seq: '1', d: 1 }],
  ['sub without topic', { t: 'sub', seq: 1 }],
  ['sub with numeric topic', { t: 'sub', seq: 1, topic: 5 }],
  ['unsub without seq', { t: 'unsub', topic: 'a' }],
  ['unsub with negative seq', { t: 'unsub', seq: -2, topic: 'a' }],
  ['unknown t', { t: 'hello' }],
  ['missing t', { seq: 1, d: 1 }],
  ['null t', { t: null }],
]

const notObjects = ['null', '1', '"msg"', 'true', '[]', '[{"t":"ping"}]']
const notJson = ['', '{', '{"t":"ping"', "{'t':'ping'}", 'ping', '{"t":"ping"}}']

describe('parseServerFrame', () => {
  it.each(validServer.map((f) => [f.t, f] as const))('accepts a valid %s frame', (_t, f) => {
    expect(parseServerFrame(JSON.stringify(f))).toEqual(f)
  })
  it.each(invalidServer)('rejects %s', (_what, f) => {
    const raw = JSON.stringify(f)
    expect(frameError(() => parseServerFrame(raw)).raw).toBe(raw)
  })
  it.each(notObjects)('rejects the non-object %s', (raw) => {
    expect(frameError(() => parseServerFrame(raw)).raw).toBe(raw)
  })
  it.each(notJson)('rejects the invalid JSON %j', (raw) => {
    const e = frameError(() => parseServerFrame(raw))
    expect(e.raw).toBe(raw)
    expect(e.message).toMatch(/JSON/)
  })
})

describe('parseClientFrame', () => {
  it.each(validClient.map((f) => [f.t, f] as const))('accepts a valid %s frame', (_t, f) => {
    expect(parseClientFrame(JSON.stringify(f))).toEqual(f)
  })
  it.each(invalidClient)('rejects %s', (_what, f) => {
    const raw = JSON.stringify(f)
    expect(frameError(() => parseClientFrame(raw)).raw).toBe(raw)
  })
  it.each(notObjects)('rejects the non-object %s', (raw) => {
    frameError(() => parseClientFrame(raw))
  })
  it.each(notJson)('rejects the invalid JSON %j', (raw) => {
    expect(frameError(() => parseClientFrame(raw)).raw).toBe(raw)
  })
  it('does not accept server frames as client frames or the other way round', () => {
    frameError(() => parseClientFrame('{"t":"ack","seq":1}'))
    frameError(() => parseServerFrame('{"t":"bye"}'))
  })
})

describe('parseClientBatch', () => {
  it('accepts an array of every client frame type, in order', () => {
    expect(parseClientBatch(JSON.stringify(validClient))).toEqual(validClient)
  })
  it('accepts an empty batch', () => {
    expect(parseClientBatch('[]')).toEqual([])
  })
  it.each(['{"t":"ping"}', 'null', '"[]"', '1'])('rejects the non-array body %s', (raw) => {
    expect(frameError(() => parseClientBatch(raw)).raw).toBe(raw)
  })
  it.each(notJson)('rejects the invalid JSON %j', (raw) => {
    expect(frameError(() => parseClientBatch(raw)).raw).toBe(raw)
  })
  it.each(invalidClient)('rejects a batch containing %s', (_what, f) => {
    const raw = JSON.stringify([{ t: 'ping' }, f])
    expect(frameError(() => parseClientBatch(raw)).raw).toBe(raw)
  })
  it('rejects a batch containing a non-object', () => {
    frameError(() => parseClientBatch('[{"t":"ping"},3]'))
    frameError(() => parseClientBatch('[[{"t":"ping"}]]'))
  })
})

describe('FrameError.raw', () => {
  const big = JSON.stringify({ t: 'nope', pad: 'x'.repeat(1000) })
  it('is truncated to 200 characters for unknown frames', () => {
    for (const parse of [parseServerFrame, parseClientFrame]) {
      const e = frameError(() => parse(big))
      expect(e.raw).toBe(big.slice(0, 200))
      expect(e.raw).toHaveLength(200)
    }
  })
  it('is truncated to 200 characters for invalid JSON and bad batches', () => {
    const broken = '{"t":"msg","d":"' + 'y'.repeat(500)
    for (const parse of [parseServerFrame, parseClientFrame, parseClientBatch]) {
      expect(frameError(() => parse(broken)).raw).toBe(broken.slice(0, 200))
    }
    expect(frameError(() => parseClientBatch(`[${big}]`)).raw).toHaveLength(200)
    expect(frameError(() => parseClientBatch(big)).raw).toHaveLength(200)
  })
  it('keeps the whole text when it is short', () => {
    expect(frameError(() => parseClientFrame('{"t":"x"}')).raw).toBe('{"t":"x"}')
  })
  it('names the unknown type, shortened', () => {
    const e = frameError(() => parseServerFrame(JSON.stringify({ t: 'z'.repeat(300) })))
    expect(e.message).toMatch(/unknown frame type "zzz/)
    expect(e.message.length).toBeLessThan(100)
  })
})

describe('utf8Length', () => {
  const cases: [string, string][] = [
    ['empty', ''],
    ['ASCII', 'hello, world {"t":"msg"}'],
    ['control characters', '\u0000\u0001\n\t\u007f'],
    ['2-byte characters', 'é ß Ω \u0080 \u07ff'],
    ['3-byte characters', '中文 € \u0800 \uffff \ufeff'],
    ['4-byte characters (surrogate pairs)', '😀 𝄞 \u{10000} \u{10ffff}'],
    ['a mix', 'a\u00e9\u4e2d\u{1f600}z'.repeat(50)],
    ['adjacent surrogate pairs', '😀😀😀'],
  ]
  it.each(cases)('matches Buffer.byteLength for %s', (_what, s) => {
    expect(utf8Length(s)).toBe(Buffer.byteLength(s, 'utf8'))
  })
  it('counts each character class as expected', () => {
    expect(utf8Length('a')).toBe(1)
    expect(utf8Length('é')).toBe(2)
    expect(utf8Length('€')).toBe(3)
    expect(utf8Length('😀')).toBe(4)
  })
  // A lone surrogate is encoded as U+FFFD (3 bytes) by Buffer and TextEncoder.
  const lone: [string, string][] = [
    ['a lone high surrogate at the end', 'ab\ud800'],
    ['a lone low surrogate', 'a\udc00b'],
    ['a high surrogate followed by ASCII', '\ud83dx'],
    ['a high surrogate followed by a 2-byte character', '\ud83dé'],
    ['a high surrogate followed by a 3-byte character', '\ud83d中'],
    ['two high surrogates then a low one', '\ud83d\ud83d\ude00'],
    ['a reversed pair', '\ude00\ud83d'],
  ]
  it.each(lone)('matches Buffer.byteLength (U+FFFD) for %s', (_what, s) => {
    expect(utf8Length(s)).toBe(Buffer.byteLength(s, 'utf8'))
    expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length)
  })
  it('matches Buffer.byteLength for every BMP code unit and a sample of astral ones', () => {
    let s = ''
    for (let c = 0; c < 0x10000; c += 7) if (c < 0xd800 || c > 0xdfff) s += String.fromCharCode(c)
    for (let cp = 0x10000; cp <= 0x10ffff; cp += 4099) s += String.fromCodePoint(cp)
    expect(utf8Length(s)).toBe(Buffer.byteLength(s, 'utf8'))
  })
})

describe('isFatalCloseCode', () => {
  it('is true for unauthorized (4401) and forbidden (4403)', () => {
    expect(isFatalCloseCode(CloseCode.unauthorized)).toBe(true)
    expect(isFatalCloseCode(CloseCode.forbidden)).toBe(true)
    expect(isFatalCloseCode(4401)).toBe(true)
    expect(isFatalCloseCode(4403)).toBe(true)
  })
  it.each([1000, 1001, 1005, 1006, 1009, 1011, 4000, 4400, 4408, 4409, 4402, 0])('is false for %i', (code) => {
    expect(isFatalCloseCode(code)).toBe(false)
  })
  it('close code constants have their protocol values', () => {
    expect(CloseCode).toEqual({
      normal: 1000,
      goingAway: 1001,
      tooLarge: 1009,
      badFrame: 4400,
      unauthorized: 4401,
      forbidden: 4403,
      replaced: 4409,
      idleTimeout: 4408,
      internalError: 1011,
      serviceRestart: 1012,
      slowConsumer: 4429,
    })
  })
})
