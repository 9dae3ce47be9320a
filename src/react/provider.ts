import { createContext, createElement, useContext, useMemo, useState, type ReactNode } from 'react'
import type { ClientHandle } from './binding'
import type { AnyRealtimeClient } from './types'

export const HandleContext = createContext<ClientHandle | null>(null)

export interface RealtimeProviderProps<C extends AnyRealtimeClient> {
  /**
   * The client to share, or a factory that creates it. The factory runs once, in the browser,
   * the first time a component needs the client, never during server rendering: use it when
   * the URL is relative (Next.js, where the server has no page to resolve it against) or when
   * the client should live and die with this provider.
   */
  client: C | (() => C)
  /**
   * Connect when the first component using the client mounts, close after the last one
   * unmounts. `false`: the app owns the client and calls `connect()` / `close()` itself.
   * @default true
   */
  manage?: boolean
  children?: ReactNode
}

/**
 * Shares one client (one connection) with every `useRealtime*` hook below it. Rendering it
 * opens nothing: the connection starts when the first hook mounts.
 */
export function RealtimeProvider<C extends AnyRealtimeClient>({ client, manage = true, children }: RealtimeProviderProps<C>) {
  // A factory is called at most once per provider; later factories (inline arrows) are ignored.
  const [lazy] = useState(() => {
    if (typeof client !== 'function') return null
    let created: C | undefined
    return () => (created ??= (client as () => C)())
  })
  const instance = lazy ? null : (client as C)
  const handle = useMemo<ClientHandle>(() => ({ get: lazy ?? (() => instance!), manage }), [lazy, instance, manage])
  return createElement(HandleContext.Provider, { value: handle }, children)
}

/** The handle from the nearest provider, or one for `client` when given. */
export function useHandle<C extends AnyRealtimeClient>(client: C | null | undefined, manage: boolean | undefined, hook: string): ClientHandle<C> {
  const fromContext = useContext(HandleContext)
  const direct = useMemo<ClientHandle | null>(() => (client ? { get: () => client, manage: manage ?? true } : null), [client, manage])
  const handle = direct ?? fromContext
  if (!handle) {
    throw new Error(`${hook}() found no client: render it inside <RealtimeProvider client={…}>, or pass one: ${hook}(client)`)
  }
  return handle as ClientHandle<C>
}
