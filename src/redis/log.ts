/**
 * A session's log stream (`<prefix>s:<sid>:log`) as the adopter reads it. Two entry shapes, both
 * read here (a Redis written by an older surewire holds only the first):
 * - one message: id `<message id>-1`, fields `m <frame text>` (the only shape before batched
 *   entries; still what a write of a single message produces);
 * - several messages with consecutive ids written in one write-through call: ONE entry, id
 *   `<first message id>-1`, fields `b <frame texts joined by \x1e>` (a JSON text never holds a
 *   raw control character).
 * A surewire older than batched entries cannot read a `b` entry (it fails the adoption on it
 * rather than replaying a part): see docs/RELIABILITY.md "Upgrading".
 */

/** XRANGE's entries: `[entry id, [field, value, …]]`. */
export type LogEntry = [id: string, fields: string[]]

/** The log's messages, oldest first: `[message id, frame text]`. */
export function logMessages(entries: readonly LogEntry[]): [number, string][] {
  const out: [number, string][] = []
  for (const [id, fields] of entries) {
    const first = parseInt(id, 10)
    if (fields[0] === 'b') fields[1]!.split('\x1e').forEach((text, i) => out.push([first + i, text]))
    else out.push([first, fields[1]!])
  }
  return out
}
