/** Where the client remembers that WebSocket is blocked for a URL. */
export interface KeyValueStorage {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
  removeItem(key: string): void
}

/** Process-wide memory for runtimes without localStorage (Node): shared by clients in one process. */
const processMemory = new Map<string, string>()
const memoryStorage: KeyValueStorage = {
  getItem: (k) => processMemory.get(k) ?? null,
  setItem: (k, v) => void processMemory.set(k, v),
  removeItem: (k) => void processMemory.delete(k),
}

/** localStorage when the runtime has a usable one, else process memory. */
export function defaultStorage(): KeyValueStorage {
  try {
    const ls = (globalThis as { localStorage?: KeyValueStorage }).localStorage
    if (ls) {
      const probe = '__surewire_probe__'
      ls.setItem(probe, '1')
      ls.removeItem(probe)
      return ls
    }
  } catch {
    // Safari private mode, sandboxed iframes, Node's --localstorage-file without a file: fall through.
  }
  return memoryStorage
}

const PREFIX = 'surewire:ws-blocked:'

/** Remembers "WebSocket does not work at this URL" until a deadline. Storage that throws (quota, privacy mode) counts as not remembered: the memory is an optimisation only. */
export class FallbackMemory {
  readonly #storage: KeyValueStorage | null
  readonly #key: string
  readonly #ttlMs: number
  readonly #now: () => number

  constructor(storage: KeyValueStorage | null, key: string, ttlMs: number, now: () => number = Date.now) {
    this.#storage = storage
    this.#key = PREFIX + key
    this.#ttlMs = ttlMs
    this.#now = now
  }

  /** A time to live of 0 (or less) remembers nothing. */
  isBlocked(): boolean {
    if (this.#ttlMs > 0) try {
      const until = Number(this.#storage?.getItem(this.#key))
      if (until > this.#now()) return true
      if (until) this.clear()
    } catch {
      /* storage unavailable: behave as not remembered */
    }
    return false
  }

  block(): void {
    if (this.#ttlMs > 0) try {
      this.#storage?.setItem(this.#key, String(this.#now() + this.#ttlMs))
    } catch {
      /* see the class */
    }
  }

  clear(): void {
    try {
      this.#storage?.removeItem(this.#key)
    } catch {
      /* see the class */
    }
  }
}

/** For tests: forget everything remembered in process memory. */
export function clearFallbackMemory(): void {
  processMemory.clear()
}
