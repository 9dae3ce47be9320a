import { describe, it, expect, afterEach } from 'vitest'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import { startProxy } from './support/proxy.js'
import type { ProxyOptions, TestProxy } from './support/proxy.js'

interface Upstream {
  port: number
  upgrades: number
  messages: number
  close(): Promise<void>
}

const cleanups: (() => unknown)[] = []

afterEach(async () => {
  // Run in reverse: clients first, then proxies, then upstreams.
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function startUpstream(): Promise<Upstream> {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain')
    res.end(`hello ${req.url}`)
  })
  const wss = new WebSocketServer({ noServer: true })
  const state = { upgrades: 0, messages: 0 }
  server.on('upgrade', (req, socket, head) => {
    state.upgrades++
    socket.on('error', () => {})
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => {})
      ws.on('message', (data, isBinary) => {
        state.messages++
        ws.send(data, { binary: isBinary })
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const upstream: Upstream = {
    port: (server.address() as AddressInfo).port,
    get upgrades() {
      return state.upgrades
    },
    get messages() {
      return state.messages
    },
    async close() {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  cleanups.push(() => upstream.close())
  return upstream
}

async function setup(options: Partial<ProxyOptions> = {}): Promise<{ upstream: Upstream; proxy: TestProxy }> {
  const upstream = await startUpstream()
  const proxy = await startProxy({ targetPort: upstream.port, ...options })
  cleanups.push(() => proxy.close())
  return { upstream, proxy }
}

function connect(proxy: TestProxy): WebSocket {
  const ws = new WebSocket(proxy.url('/ws').replace('http', 'ws'))
  ws.on('error', () => {}) // failures are observed through the helpers below
  cleanups.push(() => ws.terminate())
  return ws
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
}

function timeout(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => setTimeout(() => resolve('timeout'), ms))
}

function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.once('message', (data: Buffer) => resolve(data.toString())))
}

/**
 * The reply to `text`, or 'timeout' after `waitMs`. The default bounds an echo that must come back
 * (generous: a loaded machine must not turn it into 'timeout'); tests that expect no reply pass a short one.
 */
async function echo(ws: WebSocket, text: string, waitMs = 15_000): Promise<string> {
  const reply = nextMessage(ws)
  ws.send(text)
  return Promise.race([reply, timeout(waitMs)])
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      .on('error', reject)
  })
}

describe('test proxy', () => {
  it('pass mode relays http requests and websocket echoes', async () => {
    const { proxy, upstream } = await setup()
    expect(await get(proxy.url('/plain'))).toEqual({ status: 200, body: 'hello /plain' })
    const ws = connect(proxy)
    await opened(ws)
    expect(await echo(ws, 'ping')).toBe('ping')
    expect(upstream.upgrades).toBe(1)
    expect(proxy.stats).toMatchObject({ connections: 2, upgrades: 1, httpRequests: 1, refused: 0, hung: 0 })
    proxy.resetStats()
    expect(proxy.stats).toEqual({ connections: 0, upgrades: 0, refused: 0, hung: 0, httpRequests: 0 })
  })

  it.each([undefined, 426, 502] as const)('refuse mode answers upgrades with %s (default 400) itself', async (status) => {
    const { proxy, upstream } = await setup({ mode: 'refuse', refuseStatus: status })
    const ws = connect(proxy)
    await expect(opened(ws)).rejects.toThrow(`Unexpected server response: ${status ?? 400}`)
    expect(upstream.upgrades).toBe(0)
    expect(proxy.stats).toMatchObject({ upgrades: 1, refused: 1 })
    // Plain http still passes through in refuse mode.
    expect((await get(proxy.url('/still-ok'))).body).toBe('hello /still-ok')
  })

  it('refuse mode sends a well-formed response', async () => {
    const { proxy } = await setup({ mode: 'refuse', refuseStatus: 426 })
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(proxy.port, '127.0.0.1', () => {
        socket.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUPGRADE: WebSocket\r\n\r\n')
      })
      let data = ''
      socket.on('data', (chunk) => (data += chunk.toString()))
      socket.on('end', () => {
        socket.destroy()
        resolve(data)
      })
      socket.on('error', reject)
    })
    expect(raw).toMatch(/^HTTP\/1\.1 426 Upgrade Required\r\n/)
    expect(raw).toContain('Server: surewire-test-proxy\r\n')
    expect(raw).toContain('Connection: close\r\n')
    const [head, body] = raw.split('\r\n\r\n') as [string, string]
    expect(head).toContain(`Content-Length: ${body.length}`)
  })

  it('hang mode never opens and close() still resolves', async () => {
    const { proxy, upstream } = await setup({ mode: 'hang' })
    const ws = connect(proxy)
    const outcome = await Promise.race([opened(ws).then(() => 'open' as const), timeout(300)])
    expect(outcome).toBe('timeout')
    expect(ws.readyState).toBe(WebSocket.CONNECTING)
    expect(upstream.upgrades).toBe(0)
    expect(proxy.stats).toMatchObject({ upgrades: 1, hung: 1 })
    const closed = new Promise((resolve) => ws.once('close', resolve))
    await proxy.close()
    await closed
  })

  it('blackhole mode opens the websocket but swallows every later byte', async () => {
    const { proxy, upstream } = await setup({ mode: 'blackhole' })
    const ws = connect(proxy)
    await opened(ws)
    expect(upstream.upgrades).toBe(1)
    expect(await echo(ws, 'ping', 300)).toBe('timeout')
    expect(upstream.messages).toBe(0)
    expect(ws.readyState).toBe(WebSocket.OPEN)
  })

  it('dropAll closes open connections and later ones still work', async () => {
    const { proxy } = await setup()
    const ws = connect(proxy)
    await opened(ws)
    expect(await echo(ws, 'before')).toBe('before')
    const closed = new Promise((resolve) => ws.once('close', resolve))
    expect(proxy.dropAll()).toBe(1)
    await closed
    const again = connect(proxy)
    await opened(again)
    expect(await echo(again, 'after')).toBe('after')
  })

  it('stallAll freezes existing connections but not new ones', async () => {
    const { proxy } = await setup()
    const ws = connect(proxy)
    await opened(ws)
    expect(await echo(ws, 'before')).toBe('before')
    proxy.stallAll()
    expect(await echo(ws, 'stalled', 300)).toBe('timeout')
    expect(ws.readyState).toBe(WebSocket.OPEN)
    const fresh = connect(proxy)
    await opened(fresh)
    expect(await echo(fresh, 'fresh')).toBe('fresh')
  })

  it('mode changes apply to new connections only', async () => {
    const { proxy } = await setup()
    const ws = connect(proxy)
    await opened(ws)
    proxy.mode = 'refuse'
    expect(await echo(ws, 'still')).toBe('still')
    await expect(opened(connect(proxy))).rejects.toThrow('Unexpected server response: 400')
  })

  it('delayMs delays delivery but preserves order', async () => {
    const { proxy } = await setup({ delayMs: 40 })
    const ws = connect(proxy)
    await opened(ws)
    const count = 20
    const received: string[] = []
    const done = new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer) => {
        received.push(data.toString())
        if (received.length === count) resolve()
      }),
    )
    const started = performance.now()
    for (let i = 0; i < count; i++) ws.send(`m${i}`)
    await done
    expect(performance.now() - started).toBeGreaterThanOrEqual(70) // ~40 ms each way
    expect(received).toEqual(Array.from({ length: count }, (_, i) => `m${i}`))
    proxy.delayMs = 0
    expect(await echo(ws, 'fast')).toBe('fast')
  })

  it('destroys the client when upstream is unreachable', async () => {
    const probe = net.createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const deadPort = (probe.address() as AddressInfo).port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const proxy = await startProxy({ targetPort: deadPort })
    cleanups.push(() => proxy.close())
    await expect(get(proxy.url('/'))).rejects.toThrow()
  })
})
