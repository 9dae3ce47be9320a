/**
 * The graceful drain (docs/DEPLOYMENT.md "Rolling deploys"): this process stops taking new
 * transports and moves its clients one at a time, at random moments spread over a window: each
 * session it homes is handed over (with a broker that shares sessions: flushed and marked
 * released) and its transports closed, and each transport it relays for a session homed on
 * another process is closed; each client reconnects through the load balancer to another
 * process. Then it releases what is left and closes.
 */
import { CloseCode } from '../../protocol'

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
 * Run `act` on every item of `items()` at its moment of the schedule (one client's move each: a
 * session handed over, or a transport closed); resolves once every act has settled. Items that
 * appear during the window (none should: new transports are refused) are acted on at its end.
 * An act that rejects is passed to `failed`.
 */
export function spreadOver<T>(items: () => T[], windowMs: number, act: (item: T) => unknown, failed: (err: unknown) => void): Promise<void> {
  const first = items()
  const at = drainSchedule(first.length, windowMs)
  const acts: Promise<unknown>[] = []
  const run = (item: T) => void acts.push(Promise.resolve().then(() => act(item)).catch(failed))
  return new Promise<void>((resolve) => {
    let left = first.length + 1
    const done = () => --left === 0 && resolve()
    first.forEach((item, i) => setTimeout(() => (run(item), done()), at[i]))
    setTimeout(() => {
      const seen = new Set(first)
      for (const item of items()) if (!seen.has(item)) run(item)
      done()
    }, windowMs)
  }).then(() => Promise.all(acts).then(() => {}))
}
