/**
 * Server → client WebSocket text frames (RFC 6455 §5.2: FIN, opcode 1, unmasked, minimal length
 * encoding), the frames of one tick encoded into one buffer: one allocation and one socket write
 * per burst instead of a header buffer, two writes and an options object per message in `ws`.
 * Only for a `ws` socket without permessage-deflate (its sender then never queues, so writing to
 * the socket directly keeps every frame in order with the ones `ws` writes itself).
 */
export function encodeTextFrames(texts: readonly string[]): Buffer {
  // ASCII first (JSON frames nearly always are): then bytes = UTF-16 units, and nothing is
  // measured before it is written. 4 spare bytes: a cut-off write still shows more bytes than units.
  let total = 0
  for (let i = 0; i < texts.length; i++) total += header(texts[i]!.length)
  const buf = Buffer.allocUnsafe(total + 4)
  let at = 0
  for (let i = 0; i < texts.length; i++) {
    const t = texts[i]!
    at = writeHeader(buf, at, t.length)
    if (utf8Write(buf, t, at) !== t.length) return encodeMeasured(texts) // not ASCII
    at += t.length
  }
  return buf.subarray(0, total)
}

type Utf8Writer = { utf8Write?: (s: string, offset: number) => number }
/**
 * `buf.write(s, at)` without its argument parsing: Node's (and Bun's) Buffer has `utf8Write`,
 * the method `write` ends in; a Buffer without it gets `write`.
 */
const utf8Write: (buf: Buffer, s: string, at: number) => number =
  typeof (Buffer.prototype as Utf8Writer).utf8Write === 'function'
    ? (buf, s, at) => (buf as Utf8Writer).utf8Write!(s, at)
    : (buf, s, at) => buf.write(s, at)

/** Header plus payload bytes of a frame of `n` payload bytes. */
const header = (n: number) => n + (n < 126 ? 2 : n < 65_536 ? 4 : 10)

function writeHeader(buf: Buffer, at: number, n: number): number {
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
  return at
}

/** Any text: UTF-8 lengths measured first. */
function encodeMeasured(texts: readonly string[]): Buffer {
  const sizes: number[] = new Array<number>(texts.length)
  let total = 0
  for (let i = 0; i < texts.length; i++) {
    const n = Buffer.byteLength(texts[i]!)
    sizes[i] = n
    total += header(n)
  }
  const buf = Buffer.allocUnsafe(total)
  let at = 0
  for (let i = 0; i < texts.length; i++) {
    at = writeHeader(buf, at, sizes[i]!)
    at += buf.write(texts[i]!, at, 'utf8')
  }
  return buf
}
