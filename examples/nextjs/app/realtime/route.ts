// SSE + POST for /realtime as a route handler: works on any platform that runs Node route
// handlers, including those without WebSocket upgrades. With server.mjs the same path also
// accepts WebSocket upgrades, and both transports share one RealtimeServer (and its sessions).
import { createFetchHandler, type FetchHandler } from 'surewire/server'
import { getRealtime } from '../../realtime.mjs'

export const dynamic = 'force-dynamic'
export const runtime = 'nodejs'

let handler: FetchHandler | undefined
/** Created on the first request, not while `next build` collects route data. */
const handle = (request: Request) => (handler ??= createFetchHandler(getRealtime()))(request)

export { handle as GET, handle as POST, handle as OPTIONS }
