/** Monotonic milliseconds: immune to wall-clock steps (NTP, suspend, manual changes). */
export const now = (): number => performance.now()

const RESOLVED: Promise<void> = Promise.resolve()

/**
 * Run `fn` in a microtask (the same queue, the same order as `queueMicrotask`). Node's
 * `queueMicrotask` allocates an AsyncResource and a bound function per call and enters and leaves
 * it around `fn`: on the per-message path (a tick's clock, a connection's flush) that is five more
 * functions for a fresh process to run interpreted and compile while it warms up (bench/rtt-trace.ts).
 * A settled promise's `then` queues the same microtask with none of it. `fn` must not throw.
 */
export function microtask(fn: () => unknown): void {
  void RESOLVED.then(fn)
}

let cached: number | undefined
const forget = () => (cached = undefined)

/**
 * {@link now}, read once per tick: everything that happens in one synchronous run (a burst of
 * sends, the messages of one socket read) gets the same timestamp. For bounds measured in
 * seconds (replay age, idle timeouts), so a burst of 10,000 messages costs one clock read.
 */
export function tickNow(): number {
  if (cached === undefined) {
    cached = now()
    microtask(forget)
  }
  return cached
}
