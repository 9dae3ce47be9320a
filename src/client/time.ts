/**
 * Time for the client's timers and liveness checks: one monotonic clock and one bound.
 *
 * Every timeout and liveness comparison reads `now()` (performance.now: monotonic, unaffected by the
 * wall clock being set back or forward). `setTimeout` stores its delay as a signed 32-bit number, so
 * anything above 2^31 − 1 ms (about 24.8 days) — including `Infinity` — fires after 1 ms instead;
 * `timerMs()` clamps every delay the client arms, whether it came from an option, a backoff
 * function or the server's hello.
 */

import { MAX_TIMER_MS } from '../protocol'

/** The longest delay `setTimeout` honours: 2^31 − 1 ms (about 24.8 days); defined with the wire constants. */
export { MAX_TIMER_MS }

/** Monotonic milliseconds (performance.now, or Date.now where a runtime lacks it). */
export const now: () => number =
  typeof performance !== 'undefined' && typeof performance.now === 'function' ? () => performance.now() : () => Date.now()

/** A delay `setTimeout` will honour: NaN and negatives → 0, above MAX_TIMER_MS (Infinity too) → MAX_TIMER_MS. */
export function timerMs(ms: number): number {
  return ms > MAX_TIMER_MS ? MAX_TIMER_MS : ms > 0 ? ms : 0
}
