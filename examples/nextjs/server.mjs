// Custom Next.js server: Next renders the pages and serves /realtime's SSE + POST through the
// route handler (app/realtime/route.ts); this file adds what a route handler cannot do, the
// WebSocket upgrade on the same path, with surewire's reference server.
//
//   npm run build && npm start          # PORT=3000 by default; PORT=0 picks a free port
import { createServer } from 'node:http'
import next from 'next'
import { getRealtime } from './realtime.mjs'

const dev = process.argv.includes('--dev')
const port = Number(process.env.PORT ?? 3000)
const hostname = process.env.HOST ?? '127.0.0.1'

// Next adds its own 'upgrade' listener to the server it gets requests from, and that listener
// ends every socket it has no route for, /realtime's included. So Next gets a server of its
// own that never listens, and only the upgrades that are not ours (dev: hot reload).
const app = next({ dev, hostname, port, dir: import.meta.dirname, httpServer: createServer() })
const handle = app.getRequestHandler()
await app.prepare()

const realtime = getRealtime()
const server = createServer((req, res) => handle(req, res))
const upgradeNext = app.getUpgradeHandler()
server.on('upgrade', (req, socket, head) => {
  if (!realtime.handleUpgrade(req, socket, head)) upgradeNext(req, socket, head)
})

// Something live to show: a counter every 2 s.
let n = 0
setInterval(() => realtime.broadcast({ type: 'tick', n: ++n }), 2_000).unref()

server.listen(port, hostname, () => {
  const { port: actual } = server.address()
  console.log(`ready on http://${hostname}:${actual}`)
})
const stop = () => realtime.close().finally(() => server.close(() => process.exit(0)))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
