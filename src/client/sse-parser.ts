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

const LF = 10
const CR = 13
/** `data: `: an unfinished line this long holds no data yet. */
const DATA_PREFIX = 6

export class SseParser {
  /** Pieces of the current, unfinished line. */
  #pending: string[] = []
  #pendingChars = 0
  #data = ''
  #dataLines = 0
  /** The pending line ended in CR: it is complete, and an LF at the start of the next chunk belongs to it. */
  #afterCr = false
  #stopped = false

  constructor(
    private readonly h: SseParserHandlers,
    /** The bound, in UTF-16 code units (read on every feed: it may change, e.g. once a hello says the server's limit). */
    private readonly maxChars: () => number,
  ) {}

  get stopped(): boolean {
    return this.#stopped
  }

  feed(chunk: string): void {
    // (A byte order mark is the TextDecoder's business: it strips one at the start of the stream.)
    if (this.#stopped || chunk === '') return
    let start = 0
    if (this.#afterCr) {
      this.#afterCr = false
      if (chunk.charCodeAt(0) === LF) start = 1
      this.#line(this.#take(''))
      if (this.#stopped) return
    }
    for (let i = start; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i)
      if (c !== LF && c !== CR) continue
      if (c === CR && i + 1 === chunk.length) {
        // CR LF may be split across chunks: the line is taken when the next chunk shows which it was.
        const rest = chunk.slice(start, i)
        this.#pending.push(rest)
        this.#pendingChars += rest.length
        this.#afterCr = true
        return this.#check()
      }
      const line = this.#take(chunk.slice(start, i))
      if (c === CR && chunk.charCodeAt(i + 1) === LF) i++
      start = i + 1
      this.#line(line)
      if (this.#stopped) return
    }
    if (start < chunk.length) {
      const rest = chunk.slice(start)
      this.#pending.push(rest)
      this.#pendingChars += rest.length
    }
    this.#check()
  }

  /** The pending pieces plus `last`, as one line; clears the pending state. */
  #take(last: string): string {
    if (!this.#pending.length) return last
    this.#pending.push(last)
    const line = this.#pending.join('')
    this.#pending = []
    this.#pendingChars = 0
    return line
  }

  /**
   * What the event's data would hold: the data so far, plus an unfinished line counted as a data
   * line (less its `data: ` prefix, joined by LF). Exact once the line is finished; whatever the chunking.
   */
  #check(): void {
    const line = Math.max(0, this.#pendingChars - DATA_PREFIX)
    const held = this.#data.length + (this.#dataLines > 0 && this.#pendingChars > 0 ? 1 : 0) + line
    if (held <= this.maxChars()) return
    this.#stopped = true
    this.#pending = []
    this.#data = ''
    this.h.onOverflow(held)
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#dataLines > 0) {
        const data = this.#data
        this.#data = ''
        this.#dataLines = 0
        this.h.onEvent(data)
      }
      return
    }
    const colon = line.indexOf(':')
    if (colon === 0) return this.h.onComment?.()
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? '' : line.slice(line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1)
    switch (field) {
      case 'data':
        this.#data = this.#dataLines++ === 0 ? value : `${this.#data}\n${value}`
        return this.#check()
      case 'event':
      case 'id':
        return
      case 'retry':
        if (!/^\d+$/.test(value)) this.h.onBadLine(`invalid \`retry\` value ${JSON.stringify(value.slice(0, 20))}`)
        return
      default:
        this.h.onBadLine(`unknown field ${JSON.stringify(field.slice(0, 20))}`)
    }
  }
}
