// One RealtimeServer per process, shared by the custom server (WebSocket upgrades) and the
// route handler (SSE + POST). Next bundles the route separately, so the instance is kept on
// globalThis rather than in a module variable.
import { createRealtimeServer } from 'surewire/server'
import { ClientMessage, ServerMessage } from './messages.mjs'

const key = Symbol.for('surewire-example-nextjs.realtime')

function create() {
  const realtime = createRealtimeServer({ path: '/realtime', incoming: ClientMessage, outgoing: ServerMessage })
  realtime.on('connection', (conn) => {
    conn.on('message', (m) => realtime.broadcast({ type: 'chat', from: conn.id.slice(0, 6), text: m.text }))
  })
  return realtime
}

/** @returns {ReturnType<typeof create>} */
export function getRealtime() {
  return (globalThis[key] ??= create())
}
