/**
 * A session's replay log: the server messages a reconnecting client may still ask for, bounded
 * by age, by size (per session and across all sessions of the process) and optionally by count.
 * The oldest entries go first; what a client asks for that was trimmed is announced by
 * `hello.reset = 'replay_window_exceeded'`.
 */

/** The bounds, shared by every session of one server. `used` is the process-wide total. */
export interface ReplayBounds {
  /** Keep at most this many messages per session. Infinity: no count bound. */
  maxMessages: number
  /** Keep at most this many characters (≈ bytes for ASCII JSON) of serialized frames per session. */
  maxBytes: number
  /** Drop entries older than this. */
  maxAgeMs: number
  /** Bound on the sum over every session; the session that pushes past it trims its own oldest first. */
  maxTotalBytes: number
  /** Characters held by every log of the process (updated by the logs). */
  used: { bytes: number }
  /** Monotonic clock in ms. @default performance.now */
  now?: () => number
}

interface Entry {
  id: number
  text: string
  at: number
}

export class ReplayLog {
  /** Live entries are `#entries[#head..]`; slots before `#head` are emptied so dropped texts can be collected. */
  #entries: (Entry | undefined)[] = []
  #head = 0
  #bytes = 0

  constructor(private readonly bounds: ReplayBounds) {}

  /** Characters held by this log. */
  get bytes(): number {
    return this.#bytes
  }

  get size(): number {
    return this.#entries.length - this.#head
  }

  /** The oldest id still held, or undefined when empty. */
  get oldest(): number | undefined {
    return this.#entries[this.#head]?.id
  }

  push(id: number, text: string): void {
    const b = this.bounds
    const entry = { id, text, at: b.now ? b.now() : performance.now() }
    // The first entry gets an array of exactly one slot (push would allocate 17): most idle sessions hold one message.
    if (this.#entries.length === 0) this.#entries = [entry]
    else this.#entries.push(entry)
    this.#bytes += text.length
    b.used.bytes += text.length
    this.trim()
  }

  /** Drop what is over a bound: age, count, this log's bytes, the process total (this log pays). */
  trim(): void {
    const b = this.bounds
    const tooOld = (b.now ? b.now() : performance.now()) - b.maxAgeMs
    while (this.size > 0) {
      const e = this.#entries[this.#head]!
      const over = e.at < tooOld || this.size > b.maxMessages || this.#bytes > b.maxBytes || b.used.bytes > b.maxTotalBytes
      if (!over) break
      this.#drop()
    }
    if (this.#head > 64 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head)
      this.#head = 0
    }
  }

  /** Entries with id > `after`, oldest first. */
  *after(after: number): Iterable<{ id: number; text: string }> {
    for (let i = this.#head; i < this.#entries.length; i++) {
      const e = this.#entries[i]!
      if (e.id > after) yield e
    }
  }

  clear(): void {
    this.bounds.used.bytes -= this.#bytes
    this.#bytes = 0
    this.#entries = []
    this.#head = 0
  }

  #drop(): void {
    const e = this.#entries[this.#head]!
    this.#entries[this.#head++] = undefined
    this.#bytes -= e.text.length
    this.bounds.used.bytes -= e.text.length
  }
}
