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
})
