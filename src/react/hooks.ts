import { useCallback, useInsertionEffect, useMemo, useRef, useSyncExternalStore, useEffect } from 'react'
import type { ClientSnapshot } from '../client/status'
import { retain, type ClientHandle } from './binding'
import { useHandle } from './provider'
import type { AnyRealtimeClient, MessageOf, MessageOfType, MessageType, OutgoingOf, RealtimeHookOptions, RegisteredClient } from './types'

/** What `useRealtime` returns: the client's status snapshot plus `send`. */
export interface RealtimeState<C extends AnyRealtimeClient> extends ClientSnapshot {
  /**
   * Send a message (validated against the `outgoing` schema; queued while not connected).
   * Stable across renders. Resolves when the server has accepted it.
   */
  send: (message: OutgoingOf<C>) => Promise<void>
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- one registry holds handlers of every message type; each call site restores its type
type AnyHandler = (m: any) => void

/** A client, or options naming one. */
export type ClientArg<C extends AnyRealtimeClient> = C | RealtimeHookOptions<C> | null | undefined

/** What server rendering and hydration see: nothing has connected. */
const SERVER_SNAPSHOT: ClientSnapshot = Object.freeze({ status: 'idle', transport: null, reason: null, attempt: 0 })
const serverSnapshot = () => SERVER_SNAPSHOT
const serverUndefined = () => undefined
const nothing = () => () => {}

function options<C extends AnyRealtimeClient>(arg: ClientArg<C>): RealtimeHookOptions<C> {
  if (!arg) return {}
  return typeof (arg as C).getSnapshot === 'function' ? { client: arg as C } : (arg as RealtimeHookOptions<C>)
}

function useClientHandle<C extends AnyRealtimeClient>(arg: ClientArg<C>, hook: string): ClientHandle<C> {
  const o = options(arg)
  return useHandle(o.client, o.manage, hook)
}

/** Subscribe to incoming messages (optionally of one `type`) for as long as `handle` is in use, keeping it retained. */
function listen(handle: ClientHandle, type: string | undefined, fn: (m: unknown) => void): () => void {
  const client = handle.get()
  const off = client.on('message', (m: unknown) => {
    if (type === undefined || (m as { type?: unknown } | null)?.type === type) fn(m)
  })
  const release = retain(handle)
  return () => {
    off()
    release()
  }
}

/**
 * The connection's status, transport and the reason of the last change, plus `send`.
 * Re-renders only when the status changes, never on messages (see `useRealtimeMessage` and
 * `useLatestMessage` for those). The first component using a managed client connects it.
 *
 * During server rendering and hydration it reports `idle` and touches nothing.
 *
 * @param client the client, or `{ client, manage }`; omitted: the one from `<RealtimeProvider>`.
 */
export function useRealtime<C extends AnyRealtimeClient = RegisteredClient>(client?: ClientArg<C>): RealtimeState<C> {
  const handle = useClientHandle(client, 'useRealtime')
  const subscribe = useCallback(
    (onChange: () => void) => {
      const off = handle.get().on('status', onChange)
      const release = retain(handle)
      return () => {
        off()
        release()
      }
    },
    [handle],
  )
  const snapshot = useSyncExternalStore(subscribe, () => handle.get().getSnapshot(), serverSnapshot)
  const send = useCallback((message: OutgoingOf<C>) => handle.get().send(message), [handle])
  return useMemo(() => ({ ...snapshot, send }), [snapshot, send])
}

/**
 * Call `handler` for every incoming message of `type` (typed from the client's schema), or for
 * every message when no type is given. Does not re-render the component: the handler decides
 * what to do (append to state, update a store, show a toast). The latest `handler` is always
 * the one called, so it may be an inline arrow.
 */
export function useRealtimeMessage<C extends AnyRealtimeClient = RegisteredClient, T extends MessageType<C> = MessageType<C>>(
  type: T,
  handler: (message: MessageOfType<C, T>) => void,
  client?: ClientArg<C>,
): void
export function useRealtimeMessage<C extends AnyRealtimeClient = RegisteredClient>(handler: (message: MessageOf<C>) => void, client?: ClientArg<C>): void
export function useRealtimeMessage(a: string | AnyHandler, b?: AnyHandler | ClientArg<AnyRealtimeClient>, c?: ClientArg<AnyRealtimeClient>): void {
  const byType = typeof a === 'string'
  const type = byType ? a : undefined
  const handler = (byType ? b : a) as AnyHandler
  const handle = useClientHandle(byType ? c : (b as ClientArg<AnyRealtimeClient>), 'useRealtimeMessage')
  const latest = useRef(handler)
  useInsertionEffect(() => {
    latest.current = handler
  })
  useEffect(() => listen(handle, type, (m) => latest.current(m)), [handle, type])
}

/**
 * The latest incoming message (of `type`, when given), re-rendering on each one: opt in to this
 * where a component shows "the current value" (a price, a progress bar). `undefined` until the
 * first message, and during server rendering.
 */
export function useLatestMessage<C extends AnyRealtimeClient = RegisteredClient, T extends MessageType<C> = MessageType<C>>(
  type: T,
  client?: ClientArg<C>,
): MessageOfType<C, T> | undefined
export function useLatestMessage<C extends AnyRealtimeClient = RegisteredClient>(type?: undefined, client?: ClientArg<C>): MessageOf<C> | undefined
export function useLatestMessage(type?: string, client?: ClientArg<AnyRealtimeClient>): unknown {
  const handle = useClientHandle(client, 'useLatestMessage')
  const latest = useRef<{ handle: ClientHandle; type: string | undefined; message: unknown } | undefined>(undefined)
  const subscribe = useCallback(
    (onChange: () => void) =>
      listen(handle, type, (message) => {
        latest.current = { handle, type, message }
        onChange()
      }),
    [handle, type],
  )
  const get = () => {
    const l = latest.current
    return l && l.handle === handle && l.type === type ? l.message : undefined
  }
  return useSyncExternalStore(subscribe, get, serverUndefined)
}

/**
 * The client itself, for what the hooks do not cover (`subscribe(topic)`, `stats`, events).
 * `null` during server rendering and hydration, so markup matches; the client afterwards.
 * Does not connect a managed client by itself.
 */
export function useRealtimeClient<C extends AnyRealtimeClient = RegisteredClient>(client?: ClientArg<C>): C | null {
  const handle = useClientHandle(client, 'useRealtimeClient')
  return useSyncExternalStore(nothing, () => handle.get(), () => null)
}
