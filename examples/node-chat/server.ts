/**
 * A chat room on the surewire reference server.
 *
 *   clients send     { type: 'say', text }
 *   everyone gets    { type: 'said', from, text }
 *   each newcomer    { type: 'welcome', id }   (its own id, as others will see it in `from`)
 *
 * The same handlers serve WebSocket, SSE and POST: the app never sees which one a client uses.
 *
 * Run it on its own:  npx tsx examples/node-chat/server.ts        (PORT, HOST from the environment)
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import { createRealtimeServer, type RealtimeServer } from '../../src/server/index'
import { ChatClientMessage, ChatServerMessage } from './messages'

export interface ChatServerOptions {
  /** @default '127.0.0.1' */
  host?: string
  /** 0 picks a free port. @default 0 */
  port?: number
  /** Where the server reports joins, leaves and errors. @default errors to stderr, nothing else */
  log?: (line: string) => void
}

export interface ChatServer {
  http: Server
  realtime: RealtimeServer<typeof ChatClientMessage, typeof ChatServerMessage>
  port: number
  /** The realtime endpoint, e.g. http://127.0.0.1:3000/realtime */
  url: string
  close(): Promise<void>
}

/** Create the http server and the realtime server, wire up the chat room, and listen. */
export async function startChatServer({ host = '127.0.0.1', port = 0, log }: ChatServerOptions = {}): Promise<ChatServer> {
  const http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('surewire chat room: point a RealtimeClient at /realtime\n')
  })
  const realtime = createRealtimeServer({ incoming: ChatClientMessage, outgoing: ChatServerMessage }).attach(http)

  realtime.on('connection', (conn) => {
    log?.(`${conn.id} joined`)
    void conn.send({ type: 'welcome', id: conn.id })
    conn.on('message', (m) => {
      if (m.type === 'say') void realtime.broadcast({ type: 'said', from: conn.id, text: m.text })
    })
    conn.on('close', ({ reason }) => log?.(`${conn.id} left (${reason})`))
  })
  realtime.on('error', (err) => (log ?? console.error)(`server error: ${err instanceof Error ? err.message : String(err)}`))

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(port, host, () => {
      http.off('error', reject)
      resolve()
    })
  })
  const actual = (http.address() as AddressInfo).port
  return {
    http,
    realtime,
    port: actual,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}/realtime`,
    async close() {
      await realtime.close()
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    },
  }
}

// ---------------------------------------------------------------- standalone

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (isMain) {
  const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 23)}  ${line}`)
  const server = await startChatServer({
    host: process.env.HOST ?? '127.0.0.1',
    port: Number(process.env.PORT ?? 3000),
    log,
  })
  log(`chat server on ${server.url}  (Ctrl-C to stop)`)
  log(`try:  npx tsx examples/node-chat/client.ts ${server.url}`)
  process.once('SIGINT', () => {
    log('stopping')
    void server.close()
  })
}
