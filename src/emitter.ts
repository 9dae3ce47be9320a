/**
 * A tiny typed event emitter (instead of eventemitter3: ~25 lines, fully typed,
 * and a throwing listener cannot break the emitter or the other listeners).
 */
export type Listener<T> = (payload: T) => void

export class Emitter<Events extends object> {
  #listeners = new Map<keyof Events, Set<Listener<never>>>()

  /** Add a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event)
    if (!set) this.#listeners.set(event, (set = new Set()))
    set.add(listener as Listener<never>)
    return () => this.off(event, listener)
  }

  /** Like `on`, but the listener runs at most once. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (p) => {
      off()
      listener(p)
    })
    return off
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    const set = this.#listeners.get(event)
    if (set?.delete(listener as Listener<never>) && set.size === 0) this.#listeners.delete(event)
  }

  /** Number of listeners for one event (or all). For leak checks. */
  listenerCount(event?: keyof Events): number {
    if (event !== undefined) return this.#listeners.get(event)?.size ?? 0
    let n = 0
    for (const s of this.#listeners.values()) n += s.size
    return n
  }

  protected emit<K extends keyof Events>(event: K, payload: Events[K]): boolean {
    const set = this.#listeners.get(event)
    if (!set) return false
    for (const l of [...set]) {
      try {
        ;(l as Listener<Events[K]>)(payload)
      } catch (err) {
        this.onListenerError(err, String(event))
      }
    }
    return true
  }

  /** A listener threw. Rethrown asynchronously by default so it is visible but cannot corrupt state. */
  protected onListenerError(err: unknown, _event: string): void {
    queueMicrotask(() => {
      throw err
    })
  }
}
