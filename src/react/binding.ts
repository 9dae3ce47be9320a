import type { AnyRealtimeClient } from './types'

/** How hooks reach a client: possibly created on first use, possibly managed (ref-counted). */
export interface ClientHandle<C extends AnyRealtimeClient = AnyRealtimeClient> {
  /** The client; a provider given a factory creates it here, on first use, in the browser. */
  get(): C
  /** Whether users connect and close it (see {@link retain}). */
  readonly manage: boolean
}

interface Users {
  count: number
  closing: ReturnType<typeof setTimeout> | undefined
}
const users = new WeakMap<AnyRealtimeClient, Users>()
const noop = () => {}

/**
 * Count one user of a client. The first user connects it; when the last one lets go the
 * client is closed after the current task, so React StrictMode's unmount + remount and Fast
 * Refresh (both synchronous) keep the one connection instead of closing and reopening it.
 * Returns the release function (idempotent).
 */
export function retain(handle: ClientHandle): () => void {
  if (!handle.manage) return noop
  const client = handle.get()
  let u = users.get(client)
  if (!u) users.set(client, (u = { count: 0, closing: undefined }))
  const entry = u
  entry.count++
  clearTimeout(entry.closing)
  entry.closing = undefined
  // Failures surface through the status snapshot (`closed` with `error`), not as an unhandled rejection.
  if (entry.count === 1 && (client.status === 'idle' || client.status === 'closed')) client.connect().catch(noop)
  let released = false
  return () => {
    if (released) return
    released = true
    if (--entry.count > 0) return
    entry.closing = setTimeout(() => {
      entry.closing = undefined
      if (entry.count === 0) client.close()
    }, 0)
  }
}

/** Number of mounted users of a client (for tests and devtools). */
export function userCount(client: AnyRealtimeClient): number {
  return users.get(client)?.count ?? 0
}
