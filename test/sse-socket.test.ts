/**
 * SSE streams written straight to their socket once the head is out (src/server/node/sse-socket.ts):
 * the bytes on the wire (HTTP/1.1 chunked, `Connection: close`, the terminal chunk then FIN),
 * the end of a stream seen from both sides, server shutdown with streams open, HTTP/1.0, and
 * that node:http's internals on this Node are what takeSocket expects (it would silently fall
 * back to the slower, heavier path otherwise).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { SocketPipe, takeSocket } from '../src/server/node/sse-socket'
import { startServer, until, type TestServer } from './support/servers'
import { within } from './support/peer'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function serve(): Promise<TestServer> {
  const srv = await startServer()
  cleanups.push(() => srv.close())
  return srv
}

/** A raw TCP client: everything it received, and a promise of the server's FIN. */
function rawGet(port: number, version = '1.1', path = '/realtime') {
  const socket = connect(port, '127.0.0.1')
  cleanups.push(() => socket.destroy())
  let text = ''
  const arrived: (() => void)[] = []
  socket.setEncoding('latin1').on('data', (c: string) => {
    text += c
    for (const f of arrived.splice(0)) f()
  })
  const ended = new Promise<void>((r) => socket.once('end', () => r()))
  socket.write(`GET ${path} HTTP/${version}\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`)
  return {
    socket,
    ended,
    get text() {
      return text
    },
    /** Wait until what arrived contains `s`. */
    async until(s: string): Promise<void> {
      while (!text.includes(s)) await within(new Promise<void>((r) => arrived.push(r)), `waiting for ${JSON.stringify(s)}; got ${JSON.stringify(text)}`)
    },
  }
}

describe('SSE stream on its own socket (node:http adapter)', () => {
  it('answers HTTP/1.1 chunked with Connection: close; a session ended by the server ends with the terminal chunk, then FIN', async () => {
    const srv = await serve()
    const conns: { close(): void }[] = []
    srv.realtime.on('connection', (c) => conns.push(c))
    const c = rawGet(srv.port)
    await c.until('"t":"hello"')
    const head = c.text.slice(0, c.text.indexOf('\r\n\r\n')).toLowerCase()
    expect(head).toMatch(/^http\/1\.1 200 ok\r\n/)
    expect(head).toContain('transfer-encoding: chunked')
    expect(head).toContain('connection: close')
    expect(head).toContain('content-type: text/event-stream')
    // The hello event is one chunk: hex size, CRLF, exactly that many bytes, CRLF.
    const body = c.text.slice(c.text.indexOf('\r\n\r\n') + 4)
    const m = /^([0-9a-f]+)\r\n/.exec(body)!
    const size = parseInt(m[1]!, 16)
    expect(body.slice(m[0].length, m[0].length + size)).toMatch(/^data: \{"t":"hello".*\n\n$/)
    expect(body.slice(m[0].length + size, m[0].length + size + 2)).toBe('\r\n')
    conns[0]!.close()
    await within(c.ended, 'the server ends the connection')
    expect(c.text.endsWith('\r\n0\r\n\r\n')).toBe(true)
  })

  it('sees the client leave: the session loses its transport, and the server closes with a stream open', async () => {
    const srv = await serve()
    const conns: { transport: string | null }[] = []
    srv.realtime.on('connection', (c) => conns.push(c))
    const c = rawGet(srv.port)
    await c.until('"t":"hello"')
    expect(conns[0]!.transport).toBe('sse')
    c.socket.destroy()
    await until(() => conns[0]!.transport === null, 15_000, 'the stream detaches')
    const d = rawGet(srv.port)
    await d.until('"t":"hello"')
    await within(srv.realtime.close(), 'realtime.close() with an SSE stream open')
    await within(d.ended, 'the stream ends on close()')
    await within(new Promise<void>((r) => srv.http.close(() => r())), 'http.close() (every connection ended)')
  })

  it('http.closeAllConnections() still cuts an open stream; http.close() alone leaves it open (as it does a response)', async () => {
    const srv = await serve()
    const sockets: Socket[] = []
    srv.http.on('connection', (s: Socket) => sockets.push(s))
    const c = rawGet(srv.port)
    await c.until('"t":"hello"')
    let closed = false
    srv.http.close(() => (closed = true)) // closes idle connections synchronously (Node ≥ 19): the stream is not one
    expect(sockets.map((s) => s.destroyed)).toEqual([false])
    expect(closed).toBe(false)
    srv.http.closeAllConnections()
    await within(c.ended, 'closeAllConnections() cuts the stream')
    await until(() => closed, 15_000, 'http.close() callback')
  })

  it("still emits the response's 'close' to a listener the app added (it counts open streams)", async () => {
    const srv = await serve()
    let open = 0
    srv.http.on('request', (req, res) => {
      if (!String(req.headers.accept).includes('text/event-stream')) return
      open++
      res.on('close', () => open--)
    })
    const c = rawGet(srv.port)
    await c.until('"t":"hello"')
    expect(open).toBe(1)
    c.socket.destroy()
    await until(() => open === 0, 15_000, "the response's close event")
  })

  it('keeps serving HTTP/1.0 through the response (no chunking, ends with the connection)', async () => {
    const srv = await serve()
    const c = rawGet(srv.port, '1.0')
    await c.until('"t":"hello"')
    const head = c.text.slice(0, c.text.indexOf('\r\n\r\n')).toLowerCase()
    expect(head).toMatch(/^http\/1\.1 200 ok\r\n/)
    expect(head).not.toContain('transfer-encoding')
    expect(c.text.slice(c.text.indexOf('\r\n\r\n') + 4)).toMatch(/^data: \{"t":"hello"/)
  })

  it("finds node:http's listeners and parser as it expects on this Node, and takes the socket", async () => {
    let taken: Socket | undefined
    const http = createServer(async (req: IncomingMessage, res: ServerResponse) => {
      await null // as in the adapter, which awaits authenticate(): the parser has finished the request by then
      res.writeHead(200, { 'Content-Type': 'text/plain', Connection: 'close' })
      res.flushHeaders()
      taken = takeSocket(req, res)
      if (!taken) return void res.end('not taken')
      expect(taken.listenerCount('data')).toBe(0)
      expect((taken as { parser?: unknown }).parser).toBe(null)
      const pipe = new SocketPipe(taken)
      pipe.write('hé')
      pipe.end()
    })
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
    cleanups.push(() => new Promise<void>((r) => http.close(() => r())))
    const c = rawGet((http.address() as AddressInfo).port, '1.1', '/')
    await within(c.ended, 'the taken socket ends')
    expect(taken).toBeDefined()
    expect(c.text.slice(c.text.indexOf('\r\n\r\n') + 4)).toBe(`3\r\nh\xc3\xa9\r\n0\r\n\r\n`)
  })
})
