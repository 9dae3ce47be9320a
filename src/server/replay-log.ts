/**
 * A session's replay log: the server messages a reconnecting client may still ask for, bounded
 * by age, by size (per session and across all sessions of the process) and optionally by count.
 * The oldest entries go first; what a client asks for that was trimmed is announced by
 * `hello.reset = 'replay_window_exceeded'`.
 */
import { tickNow } from './core/clock'

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

/** The text of a `msg` frame (docs/PROTOCOL.md): `payload` is the serialized message, `topic` its topic if published to one. */
export function msgFrame(id: number, payload: string, topic: string | undefined): string {
  return topic === undefined ? `{"t":"msg","id":${id},"d":${payload}}` : `{"t":"msg","id":${id},"topic":${topicJson(topic)},"d":${payload}}`
}

let lastTopic: string | undefined
let lastTopicJson = ''
/** JSON of a topic name, cached for the last one: a publish to N sessions serialises it once, not N times. */
function topicJson(topic: string): string {
  if (topic !== lastTopic) {
    lastTopicJson = JSON.stringify(topic)
    lastTopic = topic
  }
  return lastTopicJson
}

/** Marks an entry whose payload slot holds the whole frame text. */
const WHOLE = Symbol('whole frame')

/**
 * Parallel arrays used as one ring (capacity a power of two, the same for all five), one slot per
 * message: no object per message, and a full log that keeps trimming its oldest entry allocates
 * and copies nothing.
 */
interface Ring {
  ids: number[]
  /** The serialized message, shared by every session a broadcast reached (the frame text is rebuilt for a replay). */
  payloads: string[]
  /** The topic; {@link WHOLE} when `payloads[i]` is the whole frame text (see {@link ReplayLog.pushFrame}). */
  topics: (string | typeof WHOLE | undefined)[]
  /** Characters of the frame text: what the bounds count. */
  sizes: number[]
  ats: number[]
}

/** Below this capacity a ring is never shrunk. */
const MIN_SHRINK = 64

/**
 * The log keeps each message's payload (the one string a broadcast shares across sessions), not
 * its per-session frame text, which is rebuilt only for a replay. Dropped slots are cleared so
 * their payloads can be collected; the ring doubles when full and halves when three quarters
 * of it is unused. Nothing is allocated until the first message.
 */
export class ReplayLog {
  #r: Ring | undefined
  /** Slot of the oldest entry. */
  #head = 0
  #n = 0
  #bytes = 0

  constructor(private readonly bounds: ReplayBounds) {}

  /** Characters held by this log. */
  get bytes(): number {
    return this.#bytes
  }

  get size(): number {
    return this.#n
  }

  /** The oldest id still held, or undefined when empty. */
  get oldest(): number | undefined {
    return this.#n > 0 ? this.#r!.ids[this.#head] : undefined
  }

  /** Log a message whose whole frame text is all there is (e.g. restored from a shared store). */
  pushFrame(id: number, text: string): void {
    this.#push(id, text, WHOLE, text.length)
  }

  /** Log message `id`; `size` is the length of its frame text (`msgFrame(id, payload, topic).length`). */
  push(id: number, payload: string, topic: string | undefined, size: number): void {
    this.#push(id, payload, topic, size)
  }

  #push(id: number, payload: string, topic: string | typeof WHOLE | undefined, size: number): void {
    const b = this.bounds
    const now = b.now ? b.now() : tickNow()
    let r = this.#r
    // The first entry gets arrays of exactly one slot (a push would allocate 17 each): most idle sessions hold one message.
    if (!r) {
      this.#r = { ids: [id], payloads: [payload], topics: [topic], sizes: [size], ats: [now] }
      this.#head = 0
      this.#n = 1
    } else {
      if (this.#n === r.ids.length) r = this.#resize(r, r.ids.length * 2)
      const i = (this.#head + this.#n) & (r.ids.length - 1)
      r.ids[i] = id
      r.payloads[i] = payload
      r.topics[i] = topic
      r.sizes[i] = size
      r.ats[i] = now
      this.#n++
    }
    this.#bytes += size
    b.used.bytes += size
    this.#trim(now)
  }

  /** Drop what is over a bound: age, count, this log's bytes, the process total (this log pays). */
  trim(): void {
    this.#trim(this.bounds.now ? this.bounds.now() : performance.now())
  }

  #trim(now: number): void {
    const r = this.#r
    if (!r) return
    const b = this.bounds
    const tooOld = now - b.maxAgeMs
    const mask = r.ids.length - 1
    while (this.#n > 0) {
      const h = this.#head
      if (!(r.ats[h]! < tooOld || this.#n > b.maxMessages || this.#bytes > b.maxBytes || b.used.bytes > b.maxTotalBytes)) break
      const n = r.sizes[h]!
      r.payloads[h] = '' // let the payload be collected
      r.topics[h] = undefined
      this.#bytes -= n
      b.used.bytes -= n
      this.#head = (h + 1) & mask
      this.#n--
    }
    if (r.ids.length > MIN_SHRINK && this.#n * 4 < r.ids.length) this.#resize(r, r.ids.length / 2)
  }

  /** The entries in order from slot 0, in a ring of `cap` slots (a power of two, at least the entry count). */
  #resize(r: Ring, cap: number): Ring {
    const next: Ring = { ids: [], payloads: [], topics: [], sizes: [], ats: [] }
    const mask = r.ids.length - 1
    for (let k = 0; k < this.#n; k++) {
      const j = (this.#head + k) & mask
      next.ids.push(r.ids[j]!)
      next.payloads.push(r.payloads[j]!)
      next.topics.push(r.topics[j])
      next.sizes.push(r.sizes[j]!)
      next.ats.push(r.ats[j]!)
    }
    for (let k = this.#n; k < cap; k++) {
      next.ids.push(0)
      next.payloads.push('')
      next.topics.push(undefined)
      next.sizes.push(0)
      next.ats.push(0)
    }
    this.#head = 0
    return (this.#r = next)
  }

  /** Entries with id > `after`, oldest first, with their frame text. */
  *after(after: number): Iterable<{ id: number; text: string }> {
    const r = this.#r
    if (!r) return
    const mask = r.ids.length - 1
    for (let k = 0; k < this.#n; k++) {
      const i = (this.#head + k) & mask
      const id = r.ids[i]!
      if (id <= after) continue
      const topic = r.topics[i]
      yield { id, text: topic === WHOLE ? r.payloads[i]! : msgFrame(id, r.payloads[i]!, topic) }
    }
  }

  clear(): void {
    this.bounds.used.bytes -= this.#bytes
    this.#bytes = 0
    this.#r = undefined
    this.#head = 0
    this.#n = 0
  }
}
