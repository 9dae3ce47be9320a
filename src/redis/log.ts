/**
 * A session's log stream (`<prefix>s:<sid>:log`) as the adopter reads it. Two entry shapes, both
 * read here (a Redis written by an older surewire holds only the first):
 * - one message: id `<message id>-1`, fields `m <frame text>` (the only shape before batched
 *   entries; still what a write of a single message produces);
 * - several messages of one session written in one write-through call: ONE entry, id
 *   `<first message id>-1`, fields `<message id> <frame text> <message id> <frame text> …`, ids
 *   ascending.
 * A surewire older than batched entries reads only the first message of a batched entry, so a
 * fleet must not mix it with this version (docs/RELIABILITY.md "Upgrading").
 */

/** XRANGE's entries: `[entry id, [field, value, …]]`. */
export type LogEntry = [id: string, fields: string[]]

/** The log's messages, oldest first: `[message id, frame text]`. */
export function logMessages(entries: readonly LogEntry[]): [number, string][] {
  const out: [number, string][] = []
  for (const [id, fields] of entries) {
    if (fields[0] === 'm') {
      out.push([parseInt(id, 10), fields[1]!])
      continue
    }
    for (let i = 0; i + 1 < fields.length; i += 2) out.push([Number(fields[i]), fields[i + 1]!])
  }
  return out
}
