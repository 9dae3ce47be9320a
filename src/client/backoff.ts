/** Delay before reconnect attempt number `attempt` (1, 2, 3, …), in ms. */
export type Backoff = (attempt: number) => number

/** Defaults for {@link fullJitterBackoff}. */
export const backoffDefaults = {
  /** First retry waits up to this long. @default 500 */
  baseDelayMs: 500,
  /** No retry waits longer than this. @default 30_000 */
  maxDelayMs: 30_000,
} as const

/**
 * Exponential backoff with full jitter: a uniform random delay in
 * `[0, min(maxDelayMs, baseDelayMs · 2^(attempt-1))]`. Full jitter spreads a
 * crowd of clients reconnecting after a server restart evenly over the window
 * instead of retrying in lockstep (see "Exponential Backoff And Jitter", AWS
 * Architecture Blog, 2015).
 */
export function fullJitterBackoff(
  baseDelayMs: number = backoffDefaults.baseDelayMs,
  maxDelayMs: number = backoffDefaults.maxDelayMs,
  random: () => number = Math.random,
): Backoff {
  return (attempt) => {
    const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)))
    return Math.floor(random() * ceiling)
  }
}
