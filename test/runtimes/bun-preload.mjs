// Preloaded by `bun test` (scripts/runtimes.mjs). Bun runs the vitest files with its own runner,
// mapping `vitest` imports onto `bun:test`. Its `vi` differs in the one place the client suite
// needs: a fake wall clock with real timers (`vi.useFakeTimers({ toFake: ['Date'] })` +
// `vi.setSystemTime`). Bun's `useFakeTimers` fakes the timers too and it has no
// `vi.setSystemTime`, so map that case onto Bun's own `setSystemTime` (Date only).
import { setSystemTime, vi } from 'bun:test'

const { useFakeTimers, useRealTimers } = vi
const dateOnly = (opts) => Array.isArray(opts?.toFake) && opts.toFake.length === 1 && opts.toFake[0] === 'Date'
vi.useFakeTimers = (opts) => (dateOnly(opts) ? vi : useFakeTimers.call(vi, opts))
vi.setSystemTime ??= (t) => setSystemTime(t)
vi.useRealTimers = () => {
  setSystemTime()
  return useRealTimers.call(vi)
}
