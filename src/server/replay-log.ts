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

let tickNow: number | undefined
const forgetTickNow = () => (tickNow = undefined)
/**
 * performance.now(), read once per tick: every message sent in one synchronous burst gets the
 * same timestamp (ages are measured against windows of seconds to minutes), and a burst of
 * 10,000 sends costs one clock read instead of 20,000.
 */
function nowOfTick(): number {
  if (tickNow === undefined) {
    tickNow = performance.now()
    queueMicrotask(forgetTickNow)
  }
  return tickNow
}

/**
 * The entries are three parallel arrays (id, text, time) rather than an object per message, so
 * logging a message allocates nothing; dropped slots before `#head` are cleared so their texts
 * can be collected, and the arrays are compacted once half of them is dead.
 */
export class ReplayLog {
  #ids: number[] = []
  #texts: string[] = []
  #ats: number[] = []
  #head = 0
  #bytes = 0

  constructor(private readonly bounds: ReplayBounds) {}

  /** Characters held by this log. */
  get bytes(): number {
    return this.#bytes
  }

  get size(): number {
    return this.#ids.length - this.#head
  }

  /** The oldest id still held, or undefined when empty. */
  get oldest(): number | undefined {
    return this.#head < this.#ids.length ? this.#ids[this.#head] : undefined
  }

  push(id: number, text: string): void {
    const b = this.bounds
    const now = b.now ? b.now() : nowOfTick()
    this.#ids.push(id)
    this.#texts.push(text)
    this.#ats.push(now)
    this.#bytes += text.length
    b.used.bytes += text.length
    this.#trim(now)
  }

  /** Drop what is over a bound: age, count, this log's bytes, the process total (this log pays). */
  trim(): void {
    const b = this.bounds
    this.#trim(b.now ? b.now() : performance.now())
  }

  #trim(now: number): void {
    const b = this.bounds
    const tooOld = now - b.maxAgeMs
    const ats = this.#ats
    while (this.#head < ats.length) {
      const over = ats[this.#head]! < tooOld || this.size > b.maxMessages || this.#bytes > b.maxBytes || b.used.bytes > b.maxTotalBytes
      if (!over) break
      this.#drop()
    }
    if (this.#head > 64 && this.#head * 2 > ats.length) {
      this.#ids = this.#ids.slice(this.#head)
      this.#texts = this.#texts.slice(this.#head)
      this.#ats = ats.slice(this.#head)
      this.#head = 0
    }
  }

  /** Entries with id > `after`, oldest first. */
  *after(after: number): Iterable<{ id: number; text: string }> {
    for (let i = this.#head; i < this.#ids.length; i++) {
      const id = this.#ids[i]!
      if (id > after) yield { id, text: this.#texts[i]! }
    }
  }

  clear(): void {
    this.bounds.used.bytes -= this.#bytes
    this.#bytes = 0
    this.#ids = []
    this.#texts = []
    this.#ats = []
    this.#head = 0
  }

  #drop(): void {
    const i = this.#head++
    const n = this.#texts[i]!.length
    this.#texts[i] = '' // let the text be collected
    this.#bytes -= n
    this.bounds.used.bytes -= n
  }
}
