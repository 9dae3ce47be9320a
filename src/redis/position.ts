import { compareIds } from './eval'

interface Waiter {
  id: string
  done: (reached: boolean) => void
}

/**
 * This process's fan-out read position (the id of the last stream entry delivered to its
 * sessions) and the calls waiting for it to pass an entry: a `publish()` resolves only once this
 * process has delivered its own message, so a `conn.send()` made after it is ordered after it, as
 * with the in-memory broker; adoption waits until this process has read as far as the old home.
 */
export class ReadPosition {
  #id: string
  #waiters: Waiter[] = []
  #released = false

  constructor(id = '0-0') {
    this.#id = id
  }

  get id(): string {
    return this.#id
  }

  /** The position is now `id`: the next entry read (forward), or where reading starts (at start, or from '0-0' on a new stream epoch). Waiters are let go by {@link settle}. */
  moveTo(id: string): void {
    this.#id = id
  }

  /** Let go everyone waiting for the current position or an earlier entry (once per batch read: a burst of publishes does not cost waiters × entries). */
  settle(): void {
    if (this.#waiters.length === 0) return
    const still: Waiter[] = []
    for (const w of this.#waiters) {
      if (compareIds(w.id, this.#id) <= 0) w.done(true)
      else still.push(w)
    }
    this.#waiters = still
  }

  /** Resolves `true` once the position is at or past `id`; `false` after `ms` without (a reader that is down or behind), or at once once {@link release}d. */
  reached(id: string, ms: number): Promise<boolean> {
    if (compareIds(this.#id, id) >= 0) return Promise.resolve(true)
    if (this.#released) return Promise.resolve(false)
    return new Promise((resolve) => {
      const w: Waiter = {
        id,
        done: (reached) => {
          clearTimeout(timer)
          resolve(reached)
        },
      }
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== w)
        resolve(false)
      }, ms)
      this.#waiters.push(w)
    })
  }

  /** Closing: nobody waits, now or later (the reader has stopped). */
  release(): void {
    this.#released = true
    for (const w of this.#waiters) w.done(false)
    this.#waiters = []
  }
}
