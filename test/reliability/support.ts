/**
 * Shared pieces of the reliability suite: a seeded PRNG (every random choice a
 * test makes comes from it, so a failing run can be replayed with
 * SUREWIRE_SEED=<seed>), and small helpers.
 */

/** mulberry32: a tiny, fast, well-distributed 32-bit PRNG. Returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

export interface Rng {
  readonly seed: number
  /** Float in [0, 1). */
  next(): number
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number
  pick<T>(items: readonly T[]): T
  chance(p: number): boolean
  /** An independent generator derived from this one (so one consumer's call count does not shift another's). */
  fork(salt: number): Rng
}

export function rng(seed: number): Rng {
  const f = prng(seed)
  const r: Rng = {
    seed,
    next: f,
    int: (lo, hi) => lo + Math.floor(f() * (hi - lo + 1)),
    pick: (items) => items[Math.floor(f() * items.length)]!,
    chance: (p) => f() < p,
    fork: (salt) => rng((Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + salt * 0xc2b2ae35) >>> 0),
  }
  return r
}

/** The seed for this run: SUREWIRE_SEED when set (replay), otherwise a fresh one. */
export function seedFromEnv(): number {
  const raw = process.env.SUREWIRE_SEED
  if (raw !== undefined && raw !== '') {
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`SUREWIRE_SEED must be an integer in [0, 2^32), got ${JSON.stringify(raw)}`)
    return n
  }
  return (Date.now() ^ (process.pid << 16) ^ Math.floor(Math.random() * 0x100000000)) >>> 0
}

/** Run `fn`; on failure, prefix the error with the seed and how to replay it. */
export async function withSeed<T>(seed: number, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err))
    const note = `[${what} seed ${seed}; replay with SUREWIRE_SEED=${seed}]`
    console.error(note)
    e.message = `${note} ${e.message}`
    throw e
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
