/** Monotonic milliseconds: immune to wall-clock steps (NTP, suspend, manual changes). */
export const now = (): number => performance.now()

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
    queueMicrotask(forget)
  }
  return cached
}
