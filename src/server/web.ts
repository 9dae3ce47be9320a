/**
 * `surewire/server/fetch`: the reference server for runtimes with only Web APIs (Bun, Deno,
 * workers, Next.js route handlers). It loads no node: module and not `ws`; serve it with
 * `createFetchHandler(realtime)`. WebSocket upgrades need `surewire/server` on Node.
 */
export { createRealtimeServer, RealtimeServer, type ServerEvents } from './realtime'
export { createFetchHandler, type FetchHandler } from './fetch'
export { serverDefaults, drainDefaults, type ServerOptions, type DrainOptions, type OriginPolicy, type ResolvedServerOptions } from './options'
export { bearerToken, type RealtimeRequest, type RequestHeadersAndUrl } from './request'
export type { Connection, ConnectionEvents } from './connection'
export { createMemoryBroker, BrokerError, type Broker, type BrokerHandlers, type BrokerStatus, type FanOut } from './broker'
export { CloseCode, PROTOCOL_VERSION, DEFAULT_HEARTBEAT_MS, type ErrorCode, type TransportKind } from '../protocol'
export { ValidationError, ConfigError } from '../errors'
