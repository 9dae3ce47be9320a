/** The server's own WebSocket text frame encoder (src/server/node/ws-frames.ts), read back by `ws`'s own frame parser. */
import { describe, expect, it } from 'vitest'
import * as wsModule from 'ws'
import { encodeTextFrames } from '../src/server/node/ws-frames'

function decode(buf: Buffer): string[] {
  const out: string[] = []
  // `ws` exports its frame parser at runtime; its type declarations do not name it.
  const Receiver = (wsModule as unknown as { Receiver: new (o: object) => unknown }).Receiver
  const r = new Receiver({ isServer: false, skipUTF8Validation: false }) as {
    on(e: 'message', f: (d: Buffer, binary: boolean) => void): void
    on(e: 'error', f: (err: Error) => void): void
    write(b: Buffer): void
  }
  r.on('message', (d, binary) => out.push(binary ? '<binary>' : d.toString('utf8')))
  r.on('error', (err) => out.push(`<error ${err.message}>`))
  r.write(buf)
  return out
}

describe('encodeTextFrames', () => {
  it('every length class (7-bit, 16-bit, 64-bit) and non-ASCII text round-trip through ws', () => {
    const texts = ['', 'a', 'x'.repeat(125), 'x'.repeat(126), 'x'.repeat(65_535), 'x'.repeat(65_536), 'é'.repeat(63), 'é'.repeat(64), '{"t":"msg","d":"😀 ü"}', 'x'.repeat(200_000)]
    const buf = encodeTextFrames(texts)
    expect(decode(buf)).toEqual(texts)
    expect(buf[0]).toBe(0x81)
    expect(buf[1]).toBe(0) // the empty frame: minimal length encoding
  })

  it('ASCII frames, and one non-ASCII frame anywhere in a burst (first, middle, last: the measured path)', () => {
    const ascii = ['{"t":"msg","id":1,"d":{"type":"tick","n":1}}', 'x'.repeat(126), 'y']
    expect(decode(encodeTextFrames(ascii))).toEqual(ascii)
    for (const odd of ['é', 'a😀', 'x'.repeat(124) + 'é', 'ü'.repeat(40_000)]) {
      for (const at of [0, 1, 3]) {
        const texts = [...ascii]
        texts.splice(at, 0, odd)
        const buf = encodeTextFrames(texts)
        expect(decode(buf)).toEqual(texts)
        expect(buf.length).toBe(texts.reduce((n, t) => n + Buffer.byteLength(t) + (Buffer.byteLength(t) < 126 ? 2 : Buffer.byteLength(t) < 65_536 ? 4 : 10), 0))
      }
    }
  })
})
