/**
 * The graceful drain (docs/DEPLOYMENT.md "Rolling deploys"): this process stops taking new
 * transports, closes the ones it has at random moments spread over a window (each client
 * reconnects through the load balancer to another process), then hands its sessions over (the
 * session layer's `release()`, when the broker shares sessions) and closes.
 */
import { CloseCode } from '../../protocol'
import type { Sink } from '../sink'

/** Why a drained transport was closed: WebSocket 1012 "service restart" (RFC 6455 registry), retried by every client. */
export const DRAIN_CLOSE = { code: CloseCode.serviceRestart, reason: 'server draining: reconnect' } as const

/**
 * When each of `n` transports is closed, in ms from the start of the drain: independent uniform
 * offsets in [0, windowMs), so reconnects arrive at a steady rate of n / windowMs instead of at
 * once. `random` is injectable for tests.
 */
export function drainSchedule(n: number, windowMs: number, random: () => number = Math.random): number[] {
  return Array.from({ length: n }, () => Math.floor(random() * windowMs))
}

/**
 * Close every sink of `sinks()` at its moment of the schedule; resolves once the last one is
 * closed. Sinks that appear during the window (none should: new transports are refused) are
 * closed at its end.
 */
export function closeSpread(sinks: () => Sink[], windowMs: number): Promise<void> {
  const first = sinks()
  const at = drainSchedule(first.length, windowMs)
  return new Promise((resolve) => {
    let left = first.length + 1
    const done = () => --left === 0 && resolve()
    first.forEach((sink, i) => setTimeout(() => (sink.close(DRAIN_CLOSE.code, DRAIN_CLOSE.reason), done()), at[i]))
    setTimeout(() => {
      const seen = new Set(first)
      for (const sink of sinks()) if (!seen.has(sink)) sink.close(DRAIN_CLOSE.code, DRAIN_CLOSE.reason)
      done()
    }, windowMs)
  })
}
