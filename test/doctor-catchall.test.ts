/** doctor against an app whose catch-all route answers the realtime path with an HTML page. */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, expect, it } from 'vitest'
import { runDoctor } from '../src/cli/doctor'

let server: Server | undefined
afterEach(async () => {
  server?.closeAllConnections()
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()))
})

it('names an HTML catch-all route, not a buffering proxy', async () => {
  server = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><p>app</p>'))
  server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'))
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  const r = await runDoctor(`http://127.0.0.1:${port}/realtime`, { timeoutMs: 3_000 })
  expect(r.ok).toBe(false)
  const causes = r.findings.map((f) => f.cause)
  expect(causes).not.toContain('sse_buffered')
  expect(r.findings.map((f) => f.message).join('\n')).toMatch(/catch-all|not routed/)
})
