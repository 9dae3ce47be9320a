/**
 * Tabs of one browser profile that create a client for the same share key share one connection
 * (docs/TABS.md). `joinTabs` decides whether this client shares, and returns its link if so.
 */
import type { StandardSchemaV1 } from '../../schema'
import type { ClientOptions } from '../options'
import type { EndpointHrefs } from '../url'
import type { Engine } from './leader'
import { Tab } from './tab'
import { engineTap, type BroadcastChannelConstructor, type EngineTap, type LinkEvent, type LockManagerLike, type ShareTabsOptions, type TabLink } from './types'

export { engineTap, type EngineTap, type LinkEvent, type TabLink } from './types'

type AnyOptions = ClientOptions<StandardSchemaV1, StandardSchemaV1>

/**
 * The share key: tabs share one session only when all of it is equal.
 * - the protocol version and every endpoint (WebSocket, SSE, POST URLs, path overrides included),
 * - the `transports` list,
 * - the identity: `shareTabs.key` when given, else a hash of the token the `token` provider
 *   returns at `connect()` (none without a provider). Two different tokens never share a session.
 */
export async function shareKey(o: AnyOptions, endpoints: EndpointHrefs): Promise<string> {
  const so: ShareTabsOptions = Object(o.shareTabs) // {} for true / undefined
  // [key], [hash lane a, lane b] or 0: a key never equals a token's hash.
  const identity = so.key !== undefined ? [so.key] : o.token ? hash((await o.token()) ?? '') : 0
  return JSON.stringify([1, endpoints, o.transports, identity])
}

/**
 * A 64-bit string hash: two 32-bit lanes, each step a bijection of the pair (xor the char and
 * multiply by an odd constant, then each lane's high bits into the other's low ones), so two
 * strings that differ in one char always differ. Not crypto.subtle: it is missing on plain-http
 * pages, where sharing matters most.
 */
function hash(s: string): number[] {
  let a = 1
  let b = 1
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    a = Math.imul(a ^ c, 2654435761)
    b = Math.imul(b ^ c, 1597334677)
    a ^= b >>> 15
    b ^= a >>> 13
  }
  return [a, b]
}

/**
 * This client's link to the tabs sharing its connection, or undefined when it does not share:
 * `shareTabs: false`, a custom `protocol` (compat mode has no session to share), or a runtime
 * without a document, Web Locks or BroadcastChannel (Node, Bun, Deno, workers) unless injected.
 */
export function joinTabs(o: AnyOptions, endpoints: EndpointHrefs, to: (e: LinkEvent) => unknown, makeClient: (o: AnyOptions) => Engine): TabLink | undefined {
  if (o.shareTabs === false || o.protocol) return undefined
  const so: ShareTabsOptions = Object(o.shareTabs)
  const g = globalThis as { document?: unknown; navigator?: { locks?: LockManagerLike }; BroadcastChannel?: BroadcastChannelConstructor }
  const injected = so.locks && so.BroadcastChannel
  const locks = so.locks ?? g.navigator?.locks
  const BC = so.BroadcastChannel ?? g.BroadcastChannel
  if (!locks || !BC || (!injected && !g.document)) return undefined
  return new Tab(locks, BC, () => shareKey(o, endpoints), to, (tap: EngineTap) =>
    // The tab's own schemas are never used by it: messages go to the tap, frames straight into its outbox.
    makeClient({ ...o, shareTabs: false, [engineTap]: tap } as AnyOptions),
  )
}
