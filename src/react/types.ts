import type { RealtimeClient } from '../client/client'
import type { Infer, InferIn } from '../schema'

/** Any RealtimeClient, whatever its schemas. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a client of any schemas: `unknown` would reject specific clients (schema types are invariant)
export type AnyRealtimeClient = RealtimeClient<any, any>

/**
 * Register your client's type once so hooks that take the client from `<RealtimeProvider>`
 * are typed from its schemas:
 *
 * ```ts
 * declare module 'surewire/react' {
 *   interface Register { client: typeof client } // or RealtimeClient<typeof ServerMsg, typeof ClientMsg>
 * }
 * ```
 * Hooks given a client directly are typed from that client instead.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- empty on purpose: apps augment it (declare module) with their client type
export interface Register {}

/** The client type named in {@link Register}, else any client. */
export type RegisteredClient = Register extends { client: infer C extends AnyRealtimeClient } ? C : AnyRealtimeClient

/** Server → client messages of a client (its `incoming` schema's output). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the other schema may be anything in this inference
export type MessageOf<C> = C extends RealtimeClient<infer In, any> ? Infer<In> : never
/** Client → server messages of a client (its `outgoing` schema's input). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the other schema may be anything in this inference
export type OutgoingOf<C> = C extends RealtimeClient<any, infer Out> ? InferIn<Out> : never
/** The `type` values of a client's incoming messages (any string when they are untyped). */
export type MessageType<C> = TypeOf<MessageOf<C>>
type TypeOf<M> = unknown extends M ? string : M extends { type: infer T extends string } ? T : never
/** The incoming message whose `type` is `T`. */
export type MessageOfType<C, T extends string> =
  unknown extends MessageOf<C> ? { type: T; [key: string]: unknown } : Extract<MessageOf<C>, { type: T }>

/** Where a hook finds its client, and whether it manages the connection. */
export interface RealtimeHookOptions<C extends AnyRealtimeClient> {
  /** Use this client instead of the one from `<RealtimeProvider>`. */
  client?: C | null
  /**
   * Connect when the first component using the client mounts and close after the last one
   * unmounts (StrictMode's double mount and Fast Refresh keep one connection). `false` when the
   * app owns the client and calls `connect()` / `close()` itself. Ignored with a provider, which
   * has its own `manage`.
   * @default true
   */
  manage?: boolean
}
