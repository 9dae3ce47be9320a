import { SurewireError } from '../errors'
import type { SequencedClientFrame } from '../protocol'
import { serialisedData, type OutgoingFrame } from './codec'

type Payload = { t: 'msg'; d: unknown } | { t: 'sub' | 'unsub'; topic: string }

export const noop = (): void => {}

/**
 * Mark a promise as handled so a fire-and-forget `send()` or `connect()` can never become an
 * unhandled rejection that crashes a Node process; awaiting it still sees the error.
 */
export function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(noop)
  return p
}

/** A rejected promise already marked handled. */
export const handledRejection = (err: Error): Promise<never> => handled(Promise.reject(err))

/** One queued frame. A class, so every entry has one shape (the ack loop touches thousands of them). */
class Entry {
  /** Written on the current transport (reset on reconnect so it is sent again). */
  sent = false
  resolve: () => void = noop
  reject: (err: Error) => void = noop
  /** The send() promise; undefined for internal frames (re-subscriptions). */
  promise: Promise<void> | undefined
  constructor(
    /** The frame handed to the transport; built once, its `seq` updated when renumbered. */
    readonly frame: OutgoingFrame,
    readonly bytes: number,
  ) {}
  /** Reject, marking the promise handled first: a fire-and-forget send() never becomes an unhandled rejection. */
  fail(err: Error): void {
    this.promise?.catch(noop)
    this.reject(err)
  }
}

/** Keep the dead slots at the front of the queue array until they are this many and half of it. */
const COMPACT_AT = 1024

/**
 * Client → server frames awaiting the server's ack. Every frame gets a sequence
 * number; it stays here until acked, is re-sent after a reconnect or transport
 * switch (the server drops duplicates by seq), and is bounded in count and bytes.
 *
 * The queue is an array read from `#head` (an ack advances it: no shift or splice per
 * frame; the slots before it are `undefined`), and `#unsent` marks where the first frame not
 * yet written may be, so taking the new frames costs what is new, not what is queued.
 */
export class Outbox {
  #q: (Entry | undefined)[] = []
  /** Index of the first live entry of `#q`. */
  #head = 0
  /** Every live entry before this index has been written on the current transport. */
  #unsent = 0
  #nextSeq = 1
  #bytes = 0
  readonly #maxMessages: number
  readonly #maxBytes: number

  constructor(maxMessages: number, maxBytes: number) {
    this.#maxMessages = maxMessages
    this.#maxBytes = maxBytes
  }

  get size(): number {
    return this.#q.length - this.#head
  }
  get bytes(): number {
    return this.#bytes
  }

  /** The seq the next frame pushed without one gets. */
  get nextSeq(): number {
    return this.#nextSeq
  }

  /**
   * Continue a session whose earlier frames another client numbered (a tab taking over a shared
   * connection, src/client/share): frames pushed from now on without a seq are numbered from `seq`.
   */
  continueAt(seq: number): void {
    this.#nextSeq = seq
  }

  /**
   * Queue a frame. Rejects at once with `queue_full` when the bounds would be exceeded. `seq`: a
   * number an earlier client of the session gave it (sorted in; the server answers it from its record).
   * `json`: the message's `d` already serialised (`JSON.stringify(payload.d)`), so the transport
   * does not serialise it again.
   */
  push(payload: Payload, bytes: number, seq?: number, json?: string): Promise<void> {
    if (this.size >= this.#maxMessages || this.#bytes + bytes > this.#maxBytes) {
      return handledRejection(
        new SurewireError(
          'queue_full',
          `queue full (${this.size} messages, ${this.#bytes} bytes; maxQueuedMessages=${this.#maxMessages}, maxQueuedBytes=${this.#maxBytes}): wait for earlier sends`,
        ),
      )
    }
    const n = seq ?? this.#nextSeq++
    const frame: OutgoingFrame =
      payload.t !== 'msg' ? { t: payload.t, topic: payload.topic, seq: n } : json === undefined ? { t: 'msg', d: payload.d, seq: n } : { t: 'msg', d: payload.d, seq: n, [serialisedData]: json }
    const e = new Entry(frame, bytes)
    const p = (e.promise = new Promise<void>((resolve, reject) => {
      e.resolve = resolve
      e.reject = reject
    }))
    const q = this.#q
    if (seq === undefined || this.size === 0 || q[q.length - 1]!.frame.seq < seq) q.push(e)
    else {
      let at = this.#head
      while (q[at]!.frame.seq <= seq) at++ // the last entry has a larger seq: stops inside the queue
      q.splice(at, 0, e)
      if (at < this.#unsent) this.#unsent = at
    }
    this.#bytes += bytes
    return p
  }

  /** Frames not yet written on the current transport, marked as written. */
  takeUnsent(): SequencedClientFrame[] {
    const out: SequencedClientFrame[] = []
    const q = this.#q
    for (let i = Math.max(this.#unsent, this.#head); i < q.length; i++) {
      const e = q[i]!
      if (e.sent) continue
      e.sent = true
      out.push(e.frame)
    }
    this.#unsent = q.length
    return out
  }

  /** A new transport: everything unacked goes again. */
  markAllUnsent(): void {
    this.#resend(this.#head)
  }

  /** A new server session: it has seen none of our sequence numbers. Renumber from 1 (and mark everything unsent). */
  renumber(): void {
    this.#resend(this.#head, 1)
  }

  /** Put frames (re-subscriptions) ahead of everything queued. */
  unshift(payloads: Payload[]): void {
    this.#q = payloads.map((p) => new Entry({ ...p, seq: 0 }, 0)).concat(this.#live())
    this.#head = this.#unsent = 0
  }

  /** Is a subscription to `topic` waiting to be acked? */
  hasSub(topic: string): boolean {
    return this.#live().some((e) => e.frame.t === 'sub' && e.frame.topic === topic)
  }

  /**
   * Reject (and drop) queued frames larger than `limit` bytes, e.g. once the server's own limit is known.
   * The server never accepted them (nor anything after them: it refuses sequence gaps), so each is
   * refused: what follows is renumbered down over the gap.
   */
  rejectLarger(limit: number, error: (bytes: number) => Error): void {
    const q = this.#q
    for (let i = this.#head; i < q.length; ) {
      const e = q[i]!
      if (e.bytes > limit) this.refuse(e.frame.seq, error(e.bytes))
      else i++
    }
  }

  /**
   * The transport refused to write `seq` (too large once serialised) and dropped what followed it
   * unwritten: reject that one entry and renumber the rest down over the gap, to be sent again.
   */
  refuse(seq: number, err: Error): void {
    const i = this.#find(seq)
    if (i < 0) return
    const [e] = this.#q.splice(i, 1)
    this.#bytes -= e!.bytes
    this.#resend(i, seq)
    e!.fail(err)
  }

  /** A cumulative ack: settle every frame up to `seq`, in order. */
  ack(seq: number): void {
    const q = this.#q
    let h = this.#head
    while (h < q.length && q[h]!.frame.seq <= seq) {
      const e = q[h]!
      q[h++] = undefined
      this.#bytes -= e.bytes
      e.resolve()
    }
    if (h === this.#head) return
    if (h === q.length) {
      q.length = 0
      this.#head = this.#unsent = 0
    } else if (h >= COMPACT_AT && h * 2 >= q.length) {
      q.copyWithin(0, h)
      q.length -= h
      this.#unsent = Math.max(0, this.#unsent - h)
      this.#head = 0
    } else this.#head = h
  }

  /** `seq` was refused; everything before it was consumed (cumulative, in seq order): settle them all, rejecting that one. */
  nack(seq: number, err: Error): void {
    const e = this.#q[this.#find(seq)]
    if (!e) return
    e.resolve = () => e.fail(err)
    this.ack(seq)
  }

  rejectAll(err: Error): void {
    const all = this.#live()
    this.#q = []
    this.#head = this.#unsent = this.#bytes = 0
    for (const e of all) e.fail(err)
  }

  #live(): Entry[] {
    return this.#q.slice(this.#head) as Entry[]
  }

  /** Index of the entry numbered `seq`, or -1 (from `#head`: the slots before it are dead). */
  #find(seq: number): number {
    const q = this.#q
    for (let i = this.#head; i < q.length; i++) if (q[i]!.frame.seq === seq) return i
    return -1
  }

  /** Mark the entries from index `from` on unsent, renumbering them from `next` (and what comes after) when given. */
  #resend(from: number, next?: number): void {
    const q = this.#q
    if (from < this.#unsent) this.#unsent = from
    for (let i = from; i < q.length; i++) {
      q[i]!.sent = false
      if (next !== undefined) q[i]!.frame.seq = next++
    }
    if (next !== undefined) this.#nextSeq = next
  }
}
