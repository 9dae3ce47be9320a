/**
 * Backpressure for one connection: frames wait here (as references to strings the session
 * already holds) and are handed to the transport only while it holds less than
 * PUMP_HIGH_WATER bytes, so a replay or a burst is paced by the network instead of piling up
 * in socket buffers. Frames written after the connection went live count against
 * `maxBufferedBytes`; past it the connection is a slow consumer (`onOverflow`).
 */

/** Bytes a transport may hold before the outbox waits for it to drain. */
export const PUMP_HIGH_WATER = 64 * 1024

export interface OutFrame {
  readonly text: string
  readonly id: number | undefined
}

/** The transport side of an outbox (a WebSocket, an SSE response, a Fetch stream). */
export interface FramePipe {
  /** Hand frames to the transport (one write for SSE, one message each on WebSocket). */
  writeFrames(frames: readonly OutFrame[]): void
  /** Bytes the transport holds that the network has not taken yet. */
  buffered(): number
  /** Call `cb` once when the transport can take more. */
  onDrain(cb: () => void): void
}

export class Outbox {
  #frames: OutFrame[] = []
  #head = 0
  /** Bytes of counted frames still waiting here. */
  #counted = 0
  #waiting = 0
  #scheduled = false
  #draining = false
  #closed = false
  /** From now on, writes count against the bound (set once the session's hello and replay are queued). */
  live = false

  constructor(
    private readonly pipe: FramePipe,
    private readonly maxBufferedBytes: number,
    private readonly onOverflow: () => void,
  ) {}

  /** Queue one frame. Returns false (and reports the overflow once) when the connection is over its bound. */
  write(text: string, id?: number): boolean {
    if (this.#closed || this.#finish) return false
    if (this.live && this.#counted + this.pipe.buffered() >= this.maxBufferedBytes) {
      this.close()
      this.onOverflow()
      return false
    }
    this.#frames.push({ text, id })
    this.#waiting += text.length
    if (this.live) this.#counted += text.length
    this.#schedule()
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
    return this.#head === this.#frames.length
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
    this.#frames = []
    this.#head = 0
    this.#waiting = this.#counted = 0
  }

  #schedule(): void {
    if (this.#scheduled || this.#draining) return
    this.#scheduled = true
    // Frames written in one tick leave together: one write (SSE) or one corked burst (WebSocket).
    queueMicrotask(() => this.#flush())
  }

  #flush(): void {
    this.#scheduled = false
    if (this.#closed) return
    const frames = this.#frames
    while (this.#head < frames.length && this.pipe.buffered() < PUMP_HIGH_WATER) {
      const start = this.#head
      let bytes = 0
      while (this.#head < frames.length && bytes < PUMP_HIGH_WATER) bytes += frames[this.#head++]!.text.length
      this.#waiting -= bytes
      this.#counted = Math.max(0, Math.min(this.#counted, this.#waiting))
      this.pipe.writeFrames(start === 0 && this.#head === frames.length ? frames : frames.slice(start, this.#head))
      if (this.#closed) return
    }
    if (this.#head === frames.length) {
      this.#frames = []
      this.#head = 0
      if (this.#finish) this.#done()
      return
    }
    if (this.#head > 1024) {
      this.#frames = frames.slice(this.#head)
      this.#head = 0
    }
    this.#draining = true
    this.pipe.onDrain(() => {
      this.#draining = false
      this.#flush()
    })
  }
}
