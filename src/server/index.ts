/**
 * `surewire/server`: the reference server on Node (node:http + WebSocket via `ws`) and, through
 * `createFetchHandler`, on any Fetch runtime. This entry loads `ws`; `surewire/server/fetch` is
 * the same API without it.
 */
import { setNodeUpgrader } from './node/http'
import { wsUpgrader } from './node/ws'

setNodeUpgrader(wsUpgrader)

export * from './web'
