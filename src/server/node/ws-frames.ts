/**
 * Server → client WebSocket text frames (RFC 6455 §5.2: FIN, opcode 1, unmasked, minimal length
 * encoding), the frames of one tick encoded into one buffer: one allocation and one socket write
 * per burst instead of a header buffer, two writes and an options object per message in `ws`.
 * Only for a `ws` socket without permessage-deflate (its sender then never queues, so writing to
 * the socket directly keeps every frame in order with the ones `ws` writes itself).
 */
export function encodeTextFrames(texts: readonly string[]): Buffer {
  const sizes: number[] = new Array<number>(texts.length)
  let total = 0
  for (let i = 0; i < texts.length; i++) {
    const n = Buffer.byteLength(texts[i]!)
    sizes[i] = n
    total += n + (n < 126 ? 2 : n < 65_536 ? 4 : 10)
  }
  const buf = Buffer.allocUnsafe(total)
  let at = 0
  for (let i = 0; i < texts.length; i++) {
    const n = sizes[i]!
    buf[at++] = 0x81 // FIN + text
    if (n < 126) buf[at++] = n
    else if (n < 65_536) {
      buf[at++] = 126
      buf.writeUInt16BE(n, at)
      at += 2
    } else {
      buf[at++] = 127
      buf.writeUInt32BE(Math.floor(n / 2 ** 32), at)
      buf.writeUInt32BE(n >>> 0, at + 4)
      at += 8
    }
    at += buf.write(texts[i]!, at, 'utf8')
  }
  return buf
}
