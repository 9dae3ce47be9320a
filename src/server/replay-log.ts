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

/** Parallel arrays, one slot per message: no object per message. */
interface Entries {
  ids: number[]
  /** The serialized message, shared by every session a broadcast reached (the frame text is rebuilt for a replay). */
  payloads: string[]
  /** The topic; {@link WHOLE} when `payloads[i]` is the whole frame text (see {@link ReplayLog.pushFrame}). */
  topics: (string | typeof WHOLE | undefined)[]
  /** Characters of the frame text: what the bounds count. */
  sizes: number[]
  ats: number[]
}

/**
 * The log keeps each message's payload (the one string a broadcast shares across sessions), not
 * its per-session frame text, which is rebuilt only for a replay. Dropped slots before `#head`
 * are cleared so their payloads can be collected, and the arrays are compacted once half of them
 * is dead. Nothing is allocated until the first message.
 */
export class ReplayLog {
  #e: Entries | undefined
  #head = 0
  #bytes = 0

  constructor(private readonly bounds: ReplayBounds) {}

  /** Characters held by this log. */
  get bytes(): number {
    return this.#bytes
  }

  get size(): number {
    return this.#e ? this.#e.ids.length - this.#head : 0
  }

  /** The oldest id still held, or undefined when empty. */
  get oldest(): number | undefined {
    return this.size > 0 ? this.#e!.ids[this.#head] : undefined
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
    const e = this.#e
    // The first entry gets arrays of exactly one slot (a push would allocate 17 each): most idle sessions hold one message.
    if (!e) this.#e = { ids: [id], payloads: [payload], topics: [topic], sizes: [size], ats: [now] }
    else {
      e.ids.push(id)
      e.payloads.push(payload)
      e.topics.push(topic)
      e.sizes.push(size)
      e.ats.push(now)
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
    const e = this.#e
    if (!e) return
    const b = this.bounds
    const tooOld = now - b.maxAgeMs
    const ats = e.ats
    while (this.#head < ats.length) {
      if (!(ats[this.#head]! < tooOld || ats.length - this.#head > b.maxMessages || this.#bytes > b.maxBytes || b.used.bytes > b.maxTotalBytes)) break
      this.#drop(e)
    }
    if (this.#head > 64 && this.#head * 2 > ats.length) {
      const h = this.#head
      this.#e = { ids: e.ids.slice(h), payloads: e.payloads.slice(h), topics: e.topics.slice(h), sizes: e.sizes.slice(h), ats: ats.slice(h) }
      this.#head = 0
    }
  }

  /** Entries with id > `after`, oldest first, with their frame text. */
  *after(after: number): Iterable<{ id: number; text: string }> {
    const e = this.#e
    if (!e) return
    for (let i = this.#head; i < e.ids.length; i++) {
      const id = e.ids[i]!
      if (id <= after) continue
      const topic = e.topics[i]
      yield { id, text: topic === WHOLE ? e.payloads[i]! : msgFrame(id, e.payloads[i]!, topic) }
    }
  }

  clear(): void {
    this.bounds.used.bytes -= this.#bytes
    this.#bytes = 0
    this.#e = undefined
    this.#head = 0
  }

  #drop(e: Entries): void {
    const i = this.#head++
    const n = e.sizes[i]!
    e.payloads[i] = '' // let the payload be collected
    this.#bytes -= n
    this.bounds.used.bytes -= n
  }
}
