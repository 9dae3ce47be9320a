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
  get seq(): number {
    return this.frame.seq
  }
  set seq(seq: number) {
    this.frame.seq = seq
  }
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
 * frame), and `#unsent` marks where the first frame not yet written may be, so taking
 * the new frames costs what is new, not what is queued.
 */
export class Outbox {
  #q: (Entry | undefined)[] = []
  /** Index of the first live entry of `#q`. */
  #head = 0
  /** Every live entry before this index has been written on the current transport. */
  #unsent = 0
  #nextSeq = 1
  #bytes = 0

  constructor(
    private readonly maxMessages: number,
    private readonly maxBytes: number,
  ) {}

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
    return this.#add(payload.t === 'msg' ? undefined : payload, payload.t === 'msg' ? payload.d : undefined, bytes, seq, json)
  }

  /** Queue a message the client serialised (`json` is `JSON.stringify(d)`): push() without the payload object. */
  pushMessage(d: unknown, json: string, bytes: number): Promise<void> {
    return this.#add(undefined, d, bytes, undefined, json)
  }

  #add(sub: Exclude<Payload, { t: 'msg' }> | undefined, d: unknown, bytes: number, seq: number | undefined, json: string | undefined): Promise<void> {
    if (this.size >= this.maxMessages || this.#bytes + bytes > this.maxBytes) {
      return handledRejection(
        new SurewireError(
          'queue_full',
          `outgoing queue is full (${this.size} messages, ${this.#bytes} bytes; limits ` +
            `maxQueuedMessages=${this.maxMessages}, maxQueuedBytes=${this.maxBytes}); wait for earlier sends to resolve`,
        ),
      )
    }
    const n = seq ?? this.#nextSeq++
    const frame: OutgoingFrame = sub ? { t: sub.t, topic: sub.topic, seq: n } : json === undefined ? { t: 'msg', d, seq: n } : { t: 'msg', d, seq: n, [serialisedData]: json }
    const e = new Entry(frame, bytes)
    const p = (e.promise = new Promise<void>((resolve, reject) => {
      e.resolve = resolve
      e.reject = reject
    }))
    const q = this.#q
    if (seq === undefined || this.size === 0 || q[q.length - 1]!.seq < seq) q.push(e)
    else {
      let at = this.#head
      while (q[at]!.seq <= seq) at++ // the last entry has a larger seq: stops inside the queue
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
    for (const e of this.#live()) e.sent = false
    this.#unsent = this.#head
  }

  /** A new server session: it has seen none of our sequence numbers. Renumber from 1. */
  renumber(): void {
    this.#nextSeq = 1
    for (const e of this.#live()) {
      e.seq = this.#nextSeq++
      e.sent = false
    }
    this.#unsent = this.#head
  }

  /** Put frames (re-subscriptions) ahead of everything queued. */
  unshift(payloads: Payload[]): void {
    if (!payloads.length) return
    this.#reset(payloads.map((p) => new Entry(p.t === 'msg' ? { t: 'msg', d: p.d, seq: 0 } : { t: p.t, topic: p.topic, seq: 0 }, 0)).concat(this.#live()))
  }

  /** Is a subscription to `topic` waiting to be acked? */
  hasSub(topic: string): boolean {
    return this.#live().some((e) => e.frame.t === 'sub' && e.frame.topic === topic)
  }

  /** Reject (and drop) queued frames larger than `limit` bytes, e.g. once the server's own limit is known. */
  rejectLarger(limit: number, error: (bytes: number) => Error): void {
    const keep: Entry[] = []
    let gapFrom = 0
    for (const e of this.#live()) {
      if (e.bytes <= limit) keep.push(e)
      else {
        gapFrom ||= e.seq
        this.#bytes -= e.bytes
        e.fail(error(e.bytes))
      }
    }
    if (!gapFrom) return
    // The server never accepted the dropped frames (nor anything after them: it refuses sequence gaps),
    // so close the gap by renumbering what follows.
    this.#reset(keep)
    let next = gapFrom
    for (const e of keep) if (e.seq > gapFrom) e.seq = next++
    this.#nextSeq = next
  }

  /**
   * The transport refused to write `seq` (too large once serialised) and dropped what followed it
   * unwritten: reject that one entry and renumber the rest down over the gap, to be sent again.
   */
  refuse(seq: number, err: Error): void {
    const i = this.#find(seq)
    if (i < 0) return
    const e = this.#remove(i)
    let next = seq
    const q = this.#q
    for (let j = i; j < q.length; j++) {
      const x = q[j]!
      x.seq = next++
      x.sent = false
    }
    if (i < this.#unsent) this.#unsent = i
    this.#nextSeq = next
    e.fail(err)
  }

  /** A cumulative ack: settle every frame up to `seq`, in order. */
  ack(seq: number): void {
    const q = this.#q
    let h = this.#head
    while (h < q.length && q[h]!.seq <= seq) {
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

  nack(seq: number, err: Error): void {
    const i = this.#find(seq)
    if (i < 0) return
    const e = this.#remove(i)
    // Everything before it was consumed too (seq order).
    this.ack(seq - 1)
    e.fail(err)
  }

  rejectAll(err: Error): void {
    const all = this.#live()
    this.#reset([])
    this.#bytes = 0
    for (const e of all) e.fail(err)
  }

  #live(): Entry[] {
    return this.#q.slice(this.#head) as Entry[]
  }

  #reset(entries: Entry[]): void {
    this.#q = entries
    this.#head = this.#unsent = 0
  }

  /** Index of the entry numbered `seq`, or -1. */
  #find(seq: number): number {
    const q = this.#q
    for (let i = this.#head; i < q.length; i++) {
      if (q[i]!.seq === seq) return i
    }
    return -1
  }

  #remove(i: number): Entry {
    const [e] = this.#q.splice(i, 1)
    if (i < this.#unsent) this.#unsent--
    this.#bytes -= e!.bytes
    return e!
  }
}
