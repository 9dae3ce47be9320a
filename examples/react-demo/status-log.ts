/**
 * Every status event of the demo's client, from its creation on (a tiny external store read
 * with useSyncExternalStore), so the page shows the whole story: connect, fallback, reconnect.
 */
import type { StatusEvent } from 'surewire'

let lines: readonly string[] = []
const listeners = new Set<() => void>()

export const statusLog = {
  /** Record `client`'s status events; call right after creating it. */
  attach(client: { on(event: 'status', fn: (e: StatusEvent) => void): () => void }): void {
    client.on('status', (e) => {
      lines = [...lines, `${e.status} · ${e.transport ?? '–'} · ${e.reason}`].slice(-8)
      for (const l of listeners) l()
    })
  },
  subscribe(listener: () => void): () => void {
    listeners.add(listener)
    return () => listeners.delete(listener)
  },
  get: (): readonly string[] => lines,
}
