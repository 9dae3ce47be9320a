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

/** Remembers "WebSocket does not work at this URL" until a deadline. */
export class FallbackMemory {
  constructor(
    private readonly storage: KeyValueStorage | null,
    private readonly key: string,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  isBlocked(): boolean {
    if (!this.storage || this.ttlMs <= 0) return false
    try {
      const until = Number(this.storage.getItem(PREFIX + this.key))
      if (until > this.now()) return true
      if (until) this.storage.removeItem(PREFIX + this.key)
    } catch {
      /* storage unavailable: behave as not remembered */
    }
    return false
  }

  block(): void {
    if (!this.storage || this.ttlMs <= 0) return
    try {
      this.storage.setItem(PREFIX + this.key, String(this.now() + this.ttlMs))
    } catch {
      /* quota or privacy mode: memory is an optimisation only */
    }
  }

  clear(): void {
    try {
      this.storage?.removeItem(PREFIX + this.key)
    } catch {
      /* ignore */
    }
  }
}

/** For tests: forget everything remembered in process memory. */
export function clearFallbackMemory(): void {
  processMemory.clear()
}
