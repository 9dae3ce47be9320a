export { RealtimeClient, type ClientEvents } from './client/client'
export { clientDefaults, browserLifecycle, type ClientOptions, type LifecycleSource } from './client/options'
export type { ShareTabsOptions } from './client/share/types'
export { fullJitterBackoff, backoffDefaults, type Backoff } from './client/backoff'
export { clearFallbackMemory, type KeyValueStorage } from './client/memory'
export type { Status, StatusEvent, StatusReason, ClientStats, ClientSnapshot } from './client/status'
export type { TransportKind, TransportParams, TransportClose, TransportCloseCause } from './client/transport'
export type { Codec, Protocol, Encoded, PostAnswer, WireRequest } from './client/codec'
export type { ClientFrame, ServerFrame } from './protocol'
export { compat, compatDefaults, type CompatOptions } from './client/compat'
export type { EndpointPaths } from './client/url'
export type { WebSocketConstructor, WebSocketLike } from './client/websocket'
export type { FetchLike } from './client/sse'
export {
  SurewireError,
  ValidationError,
  ConfigError,
  AuthError,
  RejectedError,
  ServerRefusalError,
  FrameError,
  isSurewireError,
  type SurewireErrorCode,
} from './errors'
export type { StandardSchemaV1, Infer, InferIn } from './schema'
