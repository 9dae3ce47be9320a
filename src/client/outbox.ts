import { SurewireError } from '../errors'
import type { SequencedClientFrame } from '../protocol'

type Payload = { t: 'msg'; d: unknown } | { t: 'sub' | 'unsub'; topic: string }

interface Entry {
  seq: number
  payload: Payload
  bytes: number
  /** Written on the current transport (reset on reconnect so it is sent again). */
  sent: boolean
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * Client → server frames awaiting the server's ack. Every frame gets a sequence
 * number; it stays here until acked, is re-sent after a reconnect or transport
 * switch (the server drops duplicates by seq), and is bounded in count and bytes.
 */
export class Outbox {
  #entries: Entry[] = []
  #nextSeq = 1
  #bytes = 0

  constructor(
    private readonly maxMessages: number,
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.#entries.length
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
   */
  push(payload: Payload, bytes: number, seq?: number): Promise<void> {
    if (this.#entries.length >= this.maxMessages || this.#bytes + bytes > this.maxBytes) {
      return Promise.reject(
        new SurewireError(
          'queue_full',
          `outgoing queue is full (${this.#entries.length} messages, ${this.#bytes} bytes; limits ` +
            `maxQueuedMessages=${this.maxMessages}, maxQueuedBytes=${this.maxBytes}); wait for earlier sends to resolve`,
        ),
      )
    }
    return new Promise((resolve, reject) => {
      const e: Entry = { seq: seq ?? this.#nextSeq++, payload, bytes, sent: false, resolve, reject }
      const at = seq === undefined ? -1 : this.#entries.findIndex((x) => x.seq > seq)
      if (at < 0) this.#entries.push(e)
      else this.#entries.splice(at, 0, e)
      this.#bytes += bytes
    })
  }

  /** Frames not yet written on the current transport, marked as written. */
  takeUnsent(): SequencedClientFrame[] {
    const out: SequencedClientFrame[] = []
    for (const e of this.#entries) {
      if (e.sent) continue
      e.sent = true
      out.push({ ...e.payload, seq: e.seq } as SequencedClientFrame)
    }
    return out
  }

  /** A new transport: everything unacked goes again. */
  markAllUnsent(): void {
    for (const e of this.#entries) e.sent = false
  }

  /** A new server session: it has seen none of our sequence numbers. Renumber from 1. */
  renumber(): void {
    this.#nextSeq = 1
    for (const e of this.#entries) {
      e.seq = this.#nextSeq++
      e.sent = false
    }
  }

  /** Put frames (re-subscriptions) ahead of everything queued. */
  unshift(payloads: Payload[]): void {
    const fresh = payloads.map<Entry>((payload) => ({
      seq: 0,
      payload,
      bytes: 0,
      sent: false,
      resolve: () => {},
      reject: () => {},
    }))
    this.#entries.unshift(...fresh)
  }

  /** Is a subscription to `topic` waiting to be acked? */
  hasSub(topic: string): boolean {
    return this.#entries.some((e) => e.payload.t === 'sub' && e.payload.topic === topic)
  }

  /** Reject (and drop) queued frames larger than `limit` bytes, e.g. once the server's own limit is known. */
  rejectLarger(limit: number, error: (bytes: number) => Error): void {
    const keep: Entry[] = []
    let gapFrom = 0
    for (const e of this.#entries) {
      if (e.bytes <= limit) keep.push(e)
      else {
        gapFrom ||= e.seq
        this.#bytes -= e.bytes
        e.reject(error(e.bytes))
      }
    }
    if (!gapFrom) return
    // The server never accepted the dropped frames (nor anything after them: it refuses sequence gaps),
    // so close the gap by renumbering what follows.
    this.#entries = keep
    let next = gapFrom
    for (const e of keep) if (e.seq > gapFrom) e.seq = next++
    this.#nextSeq = next
  }

  /**
   * The transport refused to write `seq` (too large once serialised) and dropped what followed it
   * unwritten: reject that one entry and renumber the rest down over the gap, to be sent again.
   */
  refuse(seq: number, err: Error): void {
    const i = this.#entries.findIndex((e) => e.seq === seq)
    if (i < 0) return
    const [e] = this.#entries.splice(i, 1)
    this.#bytes -= e!.bytes
    let next = seq
    for (const x of this.#entries.slice(i)) {
      x.seq = next++
      x.sent = false
    }
    this.#nextSeq = next
    e!.reject(err)
  }

  ack(seq: number): void {
    let i = 0
    while (i < this.#entries.length && this.#entries[i]!.seq <= seq) i++
    if (i === 0) return
    const done = this.#entries.splice(0, i)
    for (const e of done) {
      this.#bytes -= e.bytes
      e.resolve()
    }
  }

  nack(seq: number, err: Error): void {
    const i = this.#entries.findIndex((e) => e.seq === seq)
    if (i < 0) return
    const [e] = this.#entries.splice(i, 1)
    this.#bytes -= e!.bytes
    // Everything before it was consumed too (seq order).
    this.ack(seq - 1)
    e!.reject(err)
  }

  rejectAll(err: Error): void {
    const all = this.#entries
    this.#entries = []
    this.#bytes = 0
    for (const e of all) e.reject(err)
  }
}
