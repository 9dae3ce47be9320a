/**
 * `surewire/server`: the reference server on Node (node:http + WebSocket via `ws`) and, through
 * `createFetchHandler`, on any Fetch runtime. This entry loads `ws`; `surewire/server/fetch` is
 * the same API without it.
 */
import type { StandardSchemaV1 } from '../schema'
import { setNodeUpgrader } from './node/http'
import { wsUpgrader } from './node/ws'
import type { ServerOptions } from './options'
import { RealtimeServer as WebRealtimeServer } from './realtime'

export * from './web'

/**
 * The reference server with WebSocket upgrades (through `ws`). The upgrader is installed by the
 * constructor, not by a top-level statement: the package is `"sideEffects": false`, so a bundler
 * (esbuild, webpack, Next.js) may drop a module's side-effect-only statements, and a bundled
 * server would then answer every upgrade with 426.
 */
export class RealtimeServer<In extends StandardSchemaV1, Out extends StandardSchemaV1> extends WebRealtimeServer<In, Out> {
  constructor(options: ServerOptions<In, Out>) {
    setNodeUpgrader(wsUpgrader)
    super(options)
  }
}

/** Create the reference server. Call `attach(httpServer)` to serve it, or pass it to `createFetchHandler`. */
export function createRealtimeServer<In extends StandardSchemaV1, Out extends StandardSchemaV1>(
  options: ServerOptions<In, Out>,
): RealtimeServer<In, Out> {
  return new RealtimeServer(options)
}
