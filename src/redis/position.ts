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
  #waiters: Waiter[] = []

  constructor(public id = '0-0') {}

  /** Entries are read in order: the position moves to `id`, and everyone waiting for it or an earlier entry is done. */
  set(id: string): void {
    this.id = id
    if (this.#waiters.length === 0) return
    const still: Waiter[] = []
    for (const w of this.#waiters) {
      if (compareIds(w.id, id) <= 0) w.done(true)
      else still.push(w)
    }
    this.#waiters = still
  }

  /** Resolves `true` once the position is at or past `id`; `false` after `ms` without (a reader that is down or behind), or when {@link release}d. */
  reached(id: string, ms: number): Promise<boolean> {
    if (compareIds(this.id, id) >= 0) return Promise.resolve(true)
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

  /** Closing: nobody waits any more. */
  release(): void {
    for (const w of this.#waiters) w.done(false)
    this.#waiters = []
  }
}
