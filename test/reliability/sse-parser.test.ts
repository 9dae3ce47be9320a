/**
 * The client's bounded SSE parser (src/client/sse-parser.ts) reads every input the way
 * eventsource-parser (the parser it replaced) does, and it stops at its bound where
 * eventsource-parser without one would grow. Seeded: SUREWIRE_SEED replays a run.
 */
import { createParser } from 'eventsource-parser'
import { describe, expect, it } from 'vitest'
import { SseParser } from '../../src/client/sse-parser'
import { rng, seedFromEnv, withSeed, type Rng } from './support'

const seed = seedFromEnv()
type Out = ['event', string] | ['comment'] | ['bad']

function ours(chunks: string[], max = Infinity): { out: Out[]; overflow?: number } {
  const out: Out[] = []
  let overflow: number | undefined
  const p = new SseParser(
    { onEvent: (d) => out.push(['event', d]), onComment: () => out.push(['comment']), onBadLine: () => out.push(['bad']), onOverflow: (n) => (overflow = n) },
    () => max,
  )
  for (const c of chunks) p.feed(c)
  return { out, overflow }
}

function theirs(chunks: string[]): Out[] {
  const out: Out[] = []
  const p = createParser({ onEvent: (e) => out.push(['event', e.data]), onComment: () => out.push(['comment']), onError: () => out.push(['bad']) })
  for (const c of chunks) p.feed(c)
  return out
}

const TEXT = 'ab :{}"\\\u00e9\u2603\ud83d\ude00xyz 0123'
const word = (r: Rng, max = 12) => Array.from({ length: r.int(0, max) }, () => r.pick([...TEXT])).join('')

/** A random event stream: every kind of line, with LF, CRLF and CR line endings mixed. */
function stream(r: Rng): string {
  let s = ''
  const lines = r.int(1, 60)
  for (let i = 0; i < lines; i++) {
    s += r.pick([
      () => `data: ${word(r)}`,
      () => `data:${word(r)}`,
      () => 'data',
      () => `data:  ${word(r)}`,
      () => `: ${word(r)}`,
      () => ':',
      () => `event: ${word(r, 5)}`,
      () => `id: ${r.int(0, 99)}`,
      () => `id`,
      () => `retry: ${r.int(0, 9999)}`,
      () => `retry: ${r.pick(['x', '-1', '1.5', ''])}`,
      () => `${r.pick(['foo', 'Data', 'DATA', ' data', 'x-y'])}: ${word(r, 4)}`,
      () => r.pick(['foo', ' ', 'dat']),
      () => '', // a blank line: dispatch
      () => '',
    ])()
    s += r.pick(['\n', '\n', '\r\n', '\r'])
  }
  return s
}

/** Split a string at random points (also between CR and LF, and inside surrogate pairs: a decoder never does that, so keep pairs whole). */
function split(r: Rng, s: string): string[] {
  const out: string[] = []
  let i = 0
  while (i < s.length) {
    let n = r.chance(0.1) ? s.length : r.int(1, 16)
    if (i + n < s.length && (s.charCodeAt(i + n) & 0xfc00) === 0xdc00) n++
    out.push(s.slice(i, i + n))
    i += n
  }
  return out
}

/** Split into chunks of 1…`most` characters. */
function chunked(r: Rng, s: string, most: number): string[] {
  const out: string[] = []
  for (let i = 0; i < s.length; ) {
    const n = r.int(1, most)
    out.push(s.slice(i, i + n))
    i += n
  }
  return out
}

describe('SseParser', () => {
  it('gives the same events, comments and bad lines as eventsource-parser on 3,000 random streams, randomly chunked', () =>
    withSeed(seed, 'sse parser', async () => {
      const r = rng(seed).fork(40)
      let events = 0
      for (let i = 0; i < 3_000; i++) {
        const s = stream(r)
        const chunks = split(r, s)
        const want = theirs(chunks)
        expect(ours(chunks).out, JSON.stringify(s)).toEqual(want)
        expect(ours([s]).out, JSON.stringify(s)).toEqual(want) // chunking changes nothing
        events += want.filter((o) => o[0] === 'event').length
      }
      console.log(`sse parser seed ${seed}: 3000 streams, ${events} events, identical to eventsource-parser`)
    }))

  it('the bound: an event of exactly the bound is delivered; one character more stops the parser, whatever the chunking', () =>
    withSeed(seed, 'sse bound', async () => {
      const r = rng(seed).fork(41)
      // Chunks up to a third of the bound: an unfinished line is held over several feeds.
      for (let i = 0; i < 200; i++) {
        const max = r.int(1, 5_000)
        const split = (r: Rng, s: string) => chunked(r, s, Math.max(1, Math.floor(max / 3)))
        const at = `data: ${'x'.repeat(max)}\n\n`
        expect(ours(split(r, at), max)).toEqual({ out: [['event', 'x'.repeat(max)]], overflow: undefined })
        // The same, spread over several data lines (joined with LF: the joined data is what is bounded).
        const parts = max > 2 ? [max - 2 - Math.floor(max / 3), Math.floor(max / 3)] : []
        if (parts.length) expect(ours(split(r, parts.map((n) => `data: ${'y'.repeat(n)}\n`).join('') + '\n'), max).out).toEqual([['event', parts.map((n) => 'y'.repeat(n)).join('\n')]])
        const over = ours(split(r, `data: ${'x'.repeat(max + 1)}\n\n`), max)
        expect(over.out).toEqual([])
        expect(over.overflow).toBeGreaterThan(max)
        // No newline at all: it stops, and holds no more than the bound plus one chunk.
        const endless = ours(Array.from({ length: 20 }, () => 'z'.repeat(Math.ceil(max / 4))), max)
        expect(endless.overflow).toBeLessThanOrEqual(max + Math.ceil(max / 4))
        // Without the space after `data:`, and as a comment that never ends: the same bound.
        expect(ours(split(r, `data:${'x'.repeat(max)}\n\n`), max).out).toEqual([['event', 'x'.repeat(max)]])
        expect(ours(split(r, `data:${'x'.repeat(max + 1)}\n\n`), max).overflow).toBeGreaterThan(max)
        expect(ours(split(r, `: ${'c'.repeat(max * 2 + 10)}`), max).overflow).toBeGreaterThan(max)
      }
    }))

  it('after stopping it ignores further input', () => {
    const out: string[] = []
    let overflows = 0
    const p = new SseParser({ onEvent: (d) => out.push(d), onBadLine() {}, onOverflow: () => overflows++ }, () => 10)
    p.feed('data: 0123456789abc')
    p.feed('\n\ndata: ok\n\n')
    expect([out, overflows, p.stopped]).toEqual([[], 1, true])
  })
})
