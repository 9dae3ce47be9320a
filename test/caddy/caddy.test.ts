/**
 * End-to-end behind real Caddy: the recommended Caddyfile (test/caddy/conf/good.Caddyfile,
 * the same text as docs/DEPLOYMENT.md) in front of the reference server, the client and
 * `surewire doctor` in front of it. One server and one Caddy for the file, stopped in afterAll.
 */
import http from 'node:http'
import { readFileSync } from 'node:fs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { StatusEvent } from '../../src'
import { runDoctor } from '../../src/cli/doctor'
import { PROTOCOL_VERSION, QUERY } from '../../src/protocol'
import type { ServerMessage } from '../support/schemas'
import { closeClients, makeClient, startServer, waitFor, type TestServer } from '../support/servers'
import { renderCaddyfile, startCaddy, type Caddy } from './caddy'

let s: TestServer
let caddy: Caddy
beforeAll(async () => {
  s = await startServer()
  caddy = await startCaddy('good', s.port)
})
afterAll(async () => {
  await caddy?.stop()
  await s?.close()
})
afterEach(() => closeClients())

type Client = ReturnType<typeof makeClient>
const messagesOf = (c: Client) => (fn: (m: ServerMessage) => void) => c.on('message', fn)

/** Status events from before connect(). */
function watch(c: Client) {
  const events: StatusEvent[] = []
  c.on('status', (e) => events.push(e))
  return {
    events,
    firstOpen: () => events.find((e) => e.status === 'open'),
    reconnects: () => events.filter((e) => e.status === 'reconnecting').length,
  }
}

/** Client → server → client (echo, over POST on SSE) and server → client (broadcast after open), through Caddy. */
async function roundTrip(c: Client, tag: string): Promise<void> {
  const echoed = waitFor(messagesOf(c), (m) => m.type === 'echo' && m.text === tag, 10_000, `echo ${tag}`)
  await c.send({ type: 'echo', text: tag })
  await echoed
  const n = Math.floor(Math.random() * 1e6)
  // Generous, but far below "never": a proxy holding SSE back would deliver this only when the stream ends.
  const pushed = waitFor(messagesOf(c), (m) => m.type === 'tick' && m.n === n, 10_000, `tick ${n} while the stream is open`)
  void s.realtime.broadcast({ type: 'tick', n })
  await pushed
}

describe('Caddy (recommended Caddyfile) in front of the reference server', () => {
  it('the client connects over WebSocket (reason opened) and round-trips messages', async () => {
    const c = makeClient(caddy.url('/realtime'))
    const w = watch(c)
    await c.connect()
    expect(c.transport).toBe('websocket')
    expect(w.firstOpen()?.reason).toBe('opened')
    await roundTrip(c, 'ws-through-caddy')
    expect(w.reconnects()).toBe(0)
  })

  it("with transports ['sse']: events arrive live while the stream stays open, and POST works", async () => {
    const c = makeClient(caddy.url('/realtime'), { transports: ['sse'] })
    const w = watch(c)
    await c.connect() // resolves on the hello, so the hello came through before the stream ended
    expect(c.transport).toBe('sse')
    await roundTrip(c, 'sse-through-caddy')
    for (let i = 0; i < 20; i++) await c.send({ type: 'count', n: i }) // serialized POSTs through Caddy
    await roundTrip(c, 'after-posts')
    expect(c.status).toBe('open')
    expect(w.reconnects()).toBe(0) // the same stream carried everything
  })

  it('a raw SSE request gets the hello while the response is still open (not held back until it ends)', async () => {
    const url = `${caddy.url('/realtime')}?${QUERY.version}=${PROTOCOL_VERSION}`
    const { status, type, body, complete, server } = await new Promise<{ status?: number; type?: string; body: string; complete: boolean; server?: string }>(
      (resolve, reject) => {
        const req = http.get(url, { headers: { Accept: 'text/event-stream' } }, (res) => {
          let body = ''
          const timer = setTimeout(() => (req.destroy(), reject(new Error(`no hello within 5000 ms; got ${JSON.stringify(body)}`))), 5_000)
          res.on('data', (d: Buffer) => {
            body += d.toString()
            if (!/"t":"hello"/.test(body)) return
            clearTimeout(timer)
            const complete = res.complete
            req.destroy()
            resolve({ status: res.statusCode, type: res.headers['content-type'], body, complete, server: String(res.headers.server) })
          })
          res.on('end', () => (clearTimeout(timer), reject(new Error(`stream ended before a hello: ${JSON.stringify(body)}`))))
        })
        req.on('error', reject)
      },
    )
    expect(status).toBe(200)
    expect(type).toMatch(/^text\/event-stream/)
    expect(server).toBe('Caddy')
    expect(body).toMatch(/^data: \{"t":"hello"/m)
    expect(complete).toBe(false)
  })

  it('doctor: verdict WebSocket, no failures', async () => {
    const r = await runDoctor(caddy.url('/realtime'), { timeoutMs: 5_000 })
    expect(r.transport, r.verdict).toBe('websocket')
    expect(r.ok).toBe(true)
    expect(r.cause).toBeNull()
    expect(r.findings).toEqual([])
    expect(r.probes.filter((p) => p.ok === false)).toEqual([])
    const probe = (name: string) => r.probes.find((p) => p.name === name)!
    expect(probe('websocket').detail).toMatch(/101 Switching Protocols/)
    expect(probe('ws-hello').detail).toMatch(/ping → pong/)
    expect(probe('sse').detail).toMatch(/live/)
    expect(probe('post').ok).toBe(true)
  })

  it('docs/DEPLOYMENT.md shows the Caddyfile exactly as the test runs it', () => {
    const doc = readFileSync('docs/DEPLOYMENT.md', 'utf8')
    expect(doc).toContain(renderCaddyfile('good', { site: 'example.com', upstream: '127.0.0.1:3000' }).trim())
  })
})
