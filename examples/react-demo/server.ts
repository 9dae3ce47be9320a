/**
 * The demo's server: the built page as static files plus the reference server on
 * /realtime (WebSocket, SSE, POST) on one Node http server. Chat messages are broadcast to
 * everyone; `tick()` pushes a counter.
 *
 *   npx tsx examples/react-demo/server.ts      # builds the page with Vite, serves http://127.0.0.1:5175
 */
import { readFile, stat } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createRealtimeServer, type RealtimeServer } from '../../src/server'
import { DemoClientMessage, DemoServerMessage } from './messages'

export interface DemoServer {
  http: Server
  realtime: RealtimeServer<typeof DemoClientMessage, typeof DemoServerMessage>
  port: number
  url: string
  /** Push the next counter value to every client. */
  tick(): number
  close(): Promise<void>
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json',
}

/** Serve `root` (a Vite build) and the realtime endpoint on 127.0.0.1:`port`. */
export async function startDemoServer(root: string, port = 0, host = '127.0.0.1'): Promise<DemoServer> {
  const base = resolve(root)
  const http = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    let file = normalize(join(base, path === '/' ? 'index.html' : path))
    if (!file.startsWith(base)) return void res.writeHead(403).end()
    if (!(await stat(file).catch(() => null))?.isFile()) file = join(base, 'index.html')
    try {
      const body = await readFile(file)
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' })
      res.end(body)
    } catch {
      res.writeHead(404).end()
    }
  })
  const realtime = createRealtimeServer({ incoming: DemoClientMessage, outgoing: DemoServerMessage })
  realtime.attach(http)
  realtime.on('connection', (conn) => {
    conn.on('message', (m) => realtime.broadcast({ type: 'chat', from: conn.id.slice(0, 6), text: m.text }))
  })
  await new Promise<void>((r) => http.listen(port, host, r))
  const actual = (http.address() as AddressInfo).port
  let n = 0
  return {
    http,
    realtime,
    port: actual,
    url: `http://${host}:${actual}/`,
    tick() {
      void realtime.broadcast({ type: 'tick', n: ++n })
      return n
    },
    async close() {
      await realtime.close()
      http.closeAllConnections()
      await new Promise<void>((r) => http.close(() => r()))
    },
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { buildDemo } = await import('./build')
  const out = await buildDemo()
  const demo = await startDemoServer(out, Number(process.env.PORT ?? 5175))
  setInterval(() => demo.tick(), 2_000).unref()
  console.log(`surewire React demo on ${demo.url}`)
}
