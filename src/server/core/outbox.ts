/**
 * Backpressure for one connection: frames wait here (as references to strings the session
 * already holds) and are handed to the transport only while it holds less than
 * PUMP_HIGH_WATER bytes, so a replay or a burst is paced by the network instead of piling up
 * in socket buffers. Frames written after the connection went live count against
 * `maxBufferedBytes`; past it the connection is a slow consumer (`onOverflow`).
 */
import { microtask } from './clock'

/** Bytes a transport may hold before the outbox waits for it to drain. */
export const PUMP_HIGH_WATER = 64 * 1024

/** The transport side of an outbox (a WebSocket, an SSE response, a Fetch stream). */
export interface FramePipe {
  /**
   * Hand frames `texts[from…to)` to the transport (one write for SSE, one message each on
   * WebSocket). `ids[i]` is the message id of `texts[i]`, 0 for frames without one.
   */
  writeFrames(texts: readonly string[], ids: readonly number[], from: number, to: number): void
  /** Bytes the transport holds that the network has not taken yet. */
  buffered(): number
  /** Call `cb` once when the transport can take more. */
  onDrain(cb: () => void): void
  /** Over the bound (the outbox has closed itself); used when the constructor got no `onOverflow`. */
  overflow?(): void
  /** Called at the start of every flush; used when the constructor got no `beforeFlush`. */
  beforeFlush?(): void
}

/**
 * Frames are held as two parallel arrays (text, id) rather than one object per frame, so
 * queueing a frame allocates nothing on the hot path.
 */
export class Outbox {
  #texts: string[] = []
  #ids: number[] = []
  #head = 0
  /** Bytes of counted frames still waiting here. */
  #counted = 0
  #waiting = 0
  /** `pipe.buffered()` as last read: an upper bound of it until our next flush (the network only drains it). */
  #pipeBuffered = 0
  #scheduled = false
  #draining = false
  #closed = false
  /** From now on, writes count against the bound (set once the session's hello and replay are queued). */
  live = false

  /**
   * `onOverflow` and `beforeFlush` may instead be methods of `pipe`: a connection that is its own
   * pipe then costs no closure per connection (memory per idle connection).
   */
  constructor(
    private readonly pipe: FramePipe,
    private readonly maxBufferedBytes: number,
    private readonly onOverflow?: () => void,
    /** Called at the start of every flush, so a caller can add the last frames of the tick (coalesced acks). */
    private readonly beforeFlush?: () => void,
  ) {}

  #beforeFlush(): void {
    if (this.beforeFlush) this.beforeFlush()
    else this.pipe.beforeFlush?.()
  }

  /** Queue one frame. Returns false (and reports the overflow once) when the connection is over its bound. */
  write(text: string, id?: number): boolean {
    if (this.#closed || this.#finish) return false
    // The cheap check uses the last reading of pipe.buffered() (never below the real value); only near the bound is it read again.
    if (this.live && this.#counted + this.#pipeBuffered >= this.maxBufferedBytes && this.#counted + (this.#pipeBuffered = this.pipe.buffered()) >= this.maxBufferedBytes) {
      this.close()
      if (this.onOverflow) this.onOverflow()
      else this.pipe.overflow?.()
      return false
    }
    this.#texts.push(text)
    this.#ids.push(id ?? 0)
    this.#waiting += text.length
    if (this.live) this.#counted += text.length
    if (!this.#scheduled) this.#schedule()
    return true
  }

  /** Bytes queued here plus bytes the transport holds. */
  bufferedBytes(): number {
    return this.#waiting + this.pipe.buffered()
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Nothing waiting here (a heartbeat would be the only frame). */
  get idle(): boolean {
    return this.#head === this.#texts.length
  }

  /** Take no more frames; call `then` once everything queued here was handed to the transport. */
  finish(then: () => void): void {
    if (this.#closed) return
    this.#finish = then
    this.live = false
    if (this.idle && !this.#scheduled) this.#done()
  }

  #finish: (() => void) | undefined

  #done(): void {
    const then = this.#finish
    this.close()
    then?.()
  }

  close(): void {
    this.#finish = undefined
    this.#closed = true
    this.#texts = []
    this.#ids = []
    this.#head = 0
    this.#waiting = this.#counted = 0
  }

  #schedule(): void {
    if (this.#scheduled || this.#draining) return
    this.#scheduled = true
    // Frames written in one tick leave together: one write (SSE) or one corked burst (WebSocket).
    // A closure per scheduled flush (short-lived), not one held by every connection.
    microtask(() => this.#flushTick())
  }

  /** Make sure a flush runs at the end of this tick (it calls `beforeFlush`, which may add frames). */
  wake(): void {
    if (!this.#closed && !this.#finish) this.#schedule()
  }

  #flushTick(): void {
    try {
      if (!this.#closed) this.#beforeFlush() // still #scheduled: what it writes joins this flush
    } finally {
      this.#scheduled = false // even if it threw (a rejection, from microtask()): the next write schedules again
    }
    this.#flush()
  }

  #flush(): void {
    if (this.#closed) return
    const texts = this.#texts
    let buffered = this.pipe.buffered()
    while (this.#head < texts.length && buffered < PUMP_HIGH_WATER) {
      const start = this.#head
      let bytes = 0
      while (this.#head < texts.length && bytes < PUMP_HIGH_WATER) bytes += texts[this.#head++]!.length
      this.#waiting -= bytes
      this.#counted = Math.max(0, Math.min(this.#counted, this.#waiting))
      this.pipe.writeFrames(texts, this.#ids, start, this.#head)
      if (this.#closed) return
      buffered = this.pipe.buffered()
    }
    this.#pipeBuffered = buffered
    if (this.#head === texts.length) {
      this.#texts = []
      this.#ids = []
      this.#head = 0
      if (this.#finish) this.#done()
      return
    }
    if (this.#head > 1024) {
      this.#texts = texts.slice(this.#head)
      this.#ids = this.#ids.slice(this.#head)
      this.#head = 0
    }
    this.#draining = true
    this.pipe.onDrain(() => {
      this.#draining = false
      if (this.#closed) return
      this.#scheduled = true // what beforeFlush writes joins this flush
      this.#beforeFlush()
      this.#scheduled = false
      this.#flush()
    })
  }
}
