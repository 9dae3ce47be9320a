/**
 * A small forward proxy on 127.0.0.1 for doctor's --proxy / HTTP(S)_PROXY tests: absolute-URI
 * requests (`GET http://host/path`) are relayed, `CONNECT host:port` opens a tunnel. It counts
 * both, so a test can tell the probes really went through it.
 */
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'

export interface ForwardProxy {
  url: string
  /** Absolute-URI requests relayed (method + URL), and CONNECT authorities tunnelled. */
  absolute: string[]
  connects: string[]
  close(): Promise<void>
}

export async function startForwardProxy(): Promise<ForwardProxy> {
  const absolute: string[] = []
  const connects: string[] = []
  const sockets = new Set<net.Socket>()
  const server = http.createServer((req, res) => {
    const target = new URL(req.url ?? '')
    if (target.protocol !== 'http:') return void res.writeHead(400).end('absolute http:// URI required')
    absolute.push(`${req.method} ${target.href}`)
    const upstream = http.request({ host: target.hostname, port: target.port || 80, path: target.pathname + target.search, method: req.method, headers: req.headers, agent: false }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers)
      r.pipe(res)
    })
    upstream.on('error', () => res.writeHead(502).end())
    res.on('close', () => upstream.destroy())
    req.pipe(upstream)
  })
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    connects.push(req.url ?? '')
    const [host, port] = (req.url ?? '').split(/:(?=\d+$)/)
    const up = net.connect(Number(port), host!.replace(/^\[|\]$/g, ''), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length) up.write(head)
      up.pipe(client)
      client.pipe(up)
    })
    for (const s of [up, client]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => (up.destroy(), client.destroy()))
    }
  })
  server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    absolute,
    connects,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  }
}
