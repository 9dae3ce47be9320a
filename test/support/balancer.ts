/**
 * A TCP round-robin balancer for in-process tests, as nginx's default `upstream` behaves: each
 * new connection goes to the next target, and a target that refuses the connection is skipped
 * for that connection (nginx: proxy_next_upstream error). Bytes are piped unchanged, so
 * WebSocket upgrades and SSE streams pass through.
 */
import net from 'node:net'

export interface Balancer {
  port: number
  url(path?: string): string
  /** Which target each accepted connection went to, in order. */
  readonly routed: number[]
  close(): Promise<void>
}

export async function startBalancer(targets: number[]): Promise<Balancer> {
  let next = 0
  const routed: number[] = []
  const sockets = new Set<net.Socket>()
  const track = (s: net.Socket) => (sockets.add(s), s.once('close', () => sockets.delete(s)))
  const server = net.createServer((client) => {
    track(client)
    client.pause()
    client.on('error', () => {})
    const start = next++ % targets.length
    const attempt = (i: number) => {
      if (i === targets.length) return client.destroy()
      const port = targets[(start + i) % targets.length]!
      const up = net.connect({ host: '127.0.0.1', port })
      track(up)
      up.once('error', () => (up.destroy(), connected ? client.destroy() : attempt(i + 1)))
      let connected = false
      up.once('connect', () => {
        connected = true
        routed.push(port)
        client.pipe(up)
        up.pipe(client)
        client.resume()
        client.once('close', () => up.destroy())
        up.once('close', () => client.destroy())
      })
    }
    attempt(0)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    url: (path = '') => `http://127.0.0.1:${port}${path}`,
    routed,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}
