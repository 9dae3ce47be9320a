/**
 * A tiny typed event emitter (instead of eventemitter3: ~25 lines, fully typed,
 * and a throwing listener cannot break the emitter or the other listeners).
 */
export type Listener<T> = (payload: T) => void

/** The listener registry every surewire event source shares (the client's is this alone, so a browser bundle holds no more). */
export class BaseEmitter<Events extends object> {
  /**
   * Per event one listener as itself, two or more in a Set (insertion order): most events of most
   * emitters have one listener, and a Set per event is ~100 B per client (bench section 5). Created
   * on the first `on()`.
   */
  #listeners: Map<keyof Events, Listener<never> | Set<Listener<never>>> | undefined

  /** Add a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const map = (this.#listeners ??= new Map())
    const l = listener as Listener<never>
    const cur = map.get(event)
    if (cur === undefined) map.set(event, l)
    else if (typeof cur !== 'function') cur.add(l)
    else if (cur !== l) map.set(event, new Set([cur, l]))
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

  /** Remove a listener added with `on`. */
  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    const map = this.#listeners
    const cur = map?.get(event)
    if (cur === listener || (typeof cur === 'object' && cur.delete(listener as Listener<never>) && !cur.size)) map!.delete(event)
  }

  /** Number of listeners for one event (or all). For leak checks. */
  listenerCount(event?: keyof Events): number {
    let n = 0
    for (const [k, cur] of this.#listeners ?? []) if (event === undefined || k === event) n += typeof cur === 'function' ? 1 : cur.size
    return n
  }

  /** Call every listener of `event`; one that throws does not stop the others. Returns whether there were any. */
  protected emit<K extends keyof Events>(event: K, payload: Events[K]): boolean {
    const ls = this.listenersOf(event)
    if (!ls) return false
    for (const l of ls) {
      try {
        l(payload)
      } catch (err) {
        // Rethrown asynchronously, so it is visible but cannot corrupt state or stop the other listeners.
        queueMicrotask(() => {
          throw err
        })
      }
    }
    return true
  }

  /** The listeners of `event` now, as a copy (a listener may add or remove listeners while they run). */
  protected listenersOf<K extends keyof Events>(event: K): readonly Listener<Events[K]>[] | undefined {
    const cur = this.#listeners?.get(event) as Listener<Events[K]> | Set<Listener<Events[K]>> | undefined
    return cur === undefined ? undefined : typeof cur === 'function' ? [cur] : [...cur]
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
    const ls = this.listenersOf(event)
    const errors: unknown[] = []
    if (!ls) return errors
    let pending: PromiseLike<unknown>[] | undefined
    for (const l of ls) {
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
