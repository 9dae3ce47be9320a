/**
 * A tiny typed event emitter (instead of eventemitter3: ~25 lines, fully typed,
 * and a throwing listener cannot break the emitter or the other listeners).
 */
export type Listener<T> = (payload: T) => void

/** The listener registry every surewire event source shares (the client's is this alone, so a browser bundle holds no more). */
export class BaseEmitter<Events extends object> {
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

  /** The listeners of `event` now (for subclasses that call them another way). */
  protected listenersOf<K extends keyof Events>(event: K): ReadonlySet<Listener<Events[K]>> | undefined {
    return this.#listeners.get(event) as ReadonlySet<Listener<Events[K]>> | undefined
  }

  /** A listener threw. Rethrown asynchronously by default so it is visible but cannot corrupt state. */
  protected onListenerError(err: unknown, _event: string): void {
    queueMicrotask(() => {
      throw err
    })
  }
}

/** An emitter that can also collect what its listeners threw or rejected with (the server's `connection` and session events). */
export class Emitter<Events extends object> extends BaseEmitter<Events> {
  /**
   * Like `emit`, but listener failures go to the caller instead of being rethrown: a listener that
   * throws, or returns a promise that rejects, is reported in the result (other listeners still run).
   * Returns the errors at once when every listener returned synchronously, else a promise of them
   * that settles when every returned promise has settled. The server uses it to answer a client's
   * frame with `server_error` when the application's handler fails.
   */
  protected emitReporting<K extends keyof Events>(event: K, payload: Events[K]): unknown[] | Promise<unknown[]> {
    const set = this.listenersOf(event)
    const errors: unknown[] = []
    if (!set) return errors
    let pending: PromiseLike<unknown>[] | undefined
    for (const l of [...set]) {
      try {
        const r = (l as (p: Events[K]) => unknown)(payload)
        if (r && typeof (r as PromiseLike<unknown>).then === 'function') (pending ??= []).push(r as PromiseLike<unknown>)
      } catch (err) {
        errors.push(err)
      }
    }
    if (!pending) return errors
    return Promise.allSettled(pending).then((all) => {
      for (const r of all) if (r.status === 'rejected') errors.push(r.reason)
      return errors
    })
  }

}
