/**
 * A bounded parser for the event stream format (HTML Living Standard, "Interpreting an event
 * stream"), in the parts the client needs: `data` (joined with LF), comments, the blank line
 * that dispatches. `event`, `id` and a numeric `retry` are read and ignored (surewire puts the
 * id inside the JSON). It reads the same inputs the same way as eventsource-parser
 * (test/reliability/sse-parser.test.ts compares them), with one addition: a bound. One event's
 * data (an unfinished line counted as data) never exceeds `maxChars()`; past it the parser stops
 * for good and reports `overflow` instead of growing. Memory held: the bound plus one chunk.
 */
export interface SseParserHandlers {
  onEvent(data: string): void
  onComment?(): void
  /** A line that is not a known field (or a bad `retry`); parsing continues. */
  onBadLine(why: string): void
  /** The bound was exceeded; nothing more is parsed. */
  onOverflow(chars: number): void
}

export class SseParser {
  readonly #h: SseParserHandlers
  /** The bound, in UTF-16 code units (read on every check: it may change, e.g. once a hello says the server's limit). */
  readonly #max: () => number
  /** The current, unfinished line (a string rope: appending does not copy). */
  #line = ''
  /** The event's data lines joined with LF; undefined: no data line yet. */
  #data: string | undefined
  /** The pending line ended in CR: it is complete, and an LF at the start of the next chunk belongs to it. */
  #cr = false
  #stopped = false

  constructor(h: SseParserHandlers, maxChars: () => number) {
    this.#h = h
    this.#max = maxChars
  }

  get stopped(): boolean {
    return this.#stopped
  }

  feed(chunk: string): void {
    // (A byte order mark is the TextDecoder's business: it strips one at the start of the stream.)
    if (this.#stopped) return
    let start = 0
    if (this.#cr && chunk) {
      // The line before the CR that ended the last chunk: taken now that this chunk shows whether an LF follows.
      this.#cr = false
      if (chunk.charCodeAt(0) === 10) start = 1
      this.#take('')
    }
    const eol = /\r\n?|\n/g
    eol.lastIndex = start
    for (let m; !this.#stopped && (m = eol.exec(chunk)); start = eol.lastIndex) {
      // CR LF may be split across chunks.
      if (eol.lastIndex === chunk.length && m[0] === '\r') {
        this.#cr = true
        break
      }
      this.#take(chunk.slice(start, m.index))
    }
    if (this.#stopped) return
    this.#line += chunk.slice(start, this.#cr ? -1 : undefined)
    this.#check()
  }

  /**
   * Stop, if the event's data would exceed the bound: the data so far, plus the unfinished line
   * counted as a data line (less its `data: ` prefix, joined by LF). Exact once the line is finished;
   * whatever the chunking.
   */
  #check(): void {
    const pending = this.#line.length
    const held = (this.#data === undefined ? 0 : this.#data.length + (pending > 0 ? 1 : 0)) + Math.max(0, pending - 6)
    if (held <= this.#max()) return
    this.#stopped = true
    this.#line = this.#data = ''
    this.#h.onOverflow(held)
  }

  /** The pending line plus `last` is one finished line. */
  #take(last: string): void {
    const line = this.#line + last
    this.#line = ''
    const h = this.#h
    if (line === '') {
      const data = this.#data
      this.#data = undefined
      return data === undefined ? undefined : h.onEvent(data)
    }
    const colon = line.indexOf(':')
    if (colon === 0) return h.onComment?.()
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? '' : line.slice(line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1)
    if (field === 'data') {
      this.#data = this.#data === undefined ? value : `${this.#data}\n${value}`
      return this.#check()
    }
    if (field === 'retry' ? !/^\d+$/.test(value) : field !== 'event' && field !== 'id') h.onBadLine(JSON.stringify(line.slice(0, 30)))
  }
}
