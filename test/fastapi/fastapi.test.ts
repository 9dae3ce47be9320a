/**
 * The client's behavioural expectations against examples/fastapi — a FastAPI + uvicorn
 * server written from docs/PROTOCOL.md, with no surewire code in it. Same suite on
 * WebSocket and on SSE + POST: connect, echo both ways, nacks, resume after a drop
 * with nothing lost or doubled in either direction, heartbeats keeping idle
 * connections up, fallback, and doctor's verdict.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { WebSocket } from 'ws'
import { RejectedError, type StatusEvent, type TransportKind } from '../../src'
import { runDoctor } from '../../src/cli/doctor'
import { freePort } from '../support/daemon'
import { wsPeer } from '../support/peer'
import { startProxy, type TestProxy } from '../support/proxy'
import type { ServerMessage } from '../support/schemas'
import { closeClients, makeClient, until, waitFor } from '../support/servers'

const HB_MS = 2_000 // 2.5 × hb of SSE silence leaves 3 s for a stalled test process (at 1 s: 1.5 s)

/** A python3 that has the Debian packages (pyenv/venv shims on PATH may not): $SUREWIRE_PYTHON, /usr/bin/python3, python3. */
function findPython(): string {
  const candidates = [process.env.SUREWIRE_PYTHON, '/usr/bin/python3', 'python3'].filter((c): c is string => !!c)
  for (const c of candidates) {
    if (spawnSync(c, ['-c', 'import fastapi, uvicorn, websockets'], { stdio: 'ignore' }).status === 0) return c
  }
  throw new Error('no python3 with fastapi, uvicorn and websockets: apt-get install -y python3-fastapi python3-uvicorn python3-websockets (.ci/run does), or set SUREWIRE_PYTHON')
}

let uvicorn: ChildProcess
let base = ''
let output = ''

beforeAll(async () => {
  const python = findPython()
  const port = await freePort()
  uvicorn = spawn(python, ['-m', 'uvicorn', 'app:app', '--host', '127.0.0.1', '--port', String(port), '--no-access-log', '--ws-max-size', '1048576'], {
    cwd: 'examples/fastapi',
    env: { ...process.env, SUREWIRE_TEST_HOOKS: '1', SUREWIRE_HB_MS: String(HB_MS), PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const pid = uvicorn.pid
  const killOnExit = () => pid !== undefined && uvicorn.exitCode === null && process.kill(pid, 'SIGKILL')
  process.once('exit', killOnExit) // a crashed worker must not leave uvicorn behind
  uvicorn.once('exit', () => process.off('exit', killOnExit))
  uvicorn.stdout!.on('data', (d: Buffer) => (output += d.toString()))
  uvicorn.stderr!.on('data', (d: Buffer) => (output += d.toString()))
  base = `http://127.0.0.1:${port}`
  const start = Date.now()
  for (;;) {
    if (uvicorn.exitCode !== null) throw new Error(`uvicorn exited (${uvicorn.exitCode}):\n${output}`)
    const ok = await fetch(`${base}/_test/health`).then((r) => r.ok, () => false)
    if (ok) break
    if (Date.now() - start > 20_000) throw new Error(`uvicorn not ready after 20 s:\n${output}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}, 30_000)

afterAll(async () => {
  if (process.env.SUREWIRE_DEBUG_UVICORN) console.log(output)
  if (!uvicorn || uvicorn.exitCode !== null || uvicorn.pid === undefined) return
  const exited = new Promise((r) => uvicorn.once('exit', r))
  process.kill(uvicorn.pid, 'SIGTERM')
  const timer = setTimeout(() => uvicorn.exitCode === null && uvicorn.pid !== undefined && process.kill(uvicorn.pid, 'SIGKILL'), 3_000)
  await exited
  clearTimeout(timer)
  // Every path above (drops, replacements, idle closes, nacks) ran without an unhandled error in the server.
  expect(output).not.toMatch(/Traceback|Exception in ASGI application/)
})

let proxies: TestProxy[] = []
afterEach(async () => {
  closeClients()
  await Promise.all(proxies.map((p) => p.close()))
  proxies = []
})

async function proxy(mode: TestProxy['mode'] = 'pass') {
  const p = await startProxy({ targetPort: Number(new URL(base).port), mode })
  proxies.push(p)
  return p
}
/** Ask the server to send ticks start..start+n-1 to every session. */
const tick = (n: number, start = 1) => fetch(`${base}/_test/tick?n=${n}&start=${start}`, { method: 'POST' }).then((r) => r.json())
/** What the server accepted, per session. */
const received = () => fetch(`${base}/_test/received`).then((r) => r.json() as Promise<{ sessions: unknown[][] }>)

type Client = ReturnType<typeof makeClient>
const statusOf = (c: Client) => (fn: (e: StatusEvent) => void) => c.on('status', fn)
const messagesOf = (c: Client) => (fn: (m: ServerMessage) => void) => c.on('message', fn)

describe.each<TransportKind>(['websocket', 'sse'])('FastAPI server on %s', (transport) => {
  const client = (url: string, opts: Parameters<typeof makeClient>[1] = {}) => makeClient(url, { transports: [transport], ...opts })

  it('connects with a hello, echoes, and delivers server-initiated messages', async () => {
    const c = client(`${base}/realtime`)
    const events: StatusEvent[] = []
    c.on('status', (e) => events.push(e))
    await c.connect()
    expect(c.transport).toBe(transport)
    expect(events.map((e) => [e.status, e.reason])).toEqual([
      ['connecting', 'connect_called'],
      ['open', 'opened'],
    ])
    const echoed = waitFor(messagesOf(c), (m) => m.type === 'echo')
    await c.send({ type: 'echo', text: 'from node' })
    expect(await echoed).toEqual({ type: 'echo', text: 'from node' })
    const ticks: number[] = []
    c.onMessage('tick', (m) => ticks.push(m.n))
    await tick(3, 100)
    await until(() => ticks.length === 3)
    expect(ticks).toEqual([100, 101, 102])
  })

  it('queues sends before connect and delivers them in order; a message the server refuses is nacked (RejectedError)', async () => {
    // The client's outgoing schema lets anything through here, so the server's own validation is what answers.
    const c = client(`${base}/realtime`, { outgoing: z.any() as never })
    const sends = [1, 2, 3].map((n) => c.send({ type: 'count', n }))
    await c.connect()
    await Promise.all(sends)
    await c.subscribe('builds')
    const err = await c.send({ type: 'nope' } as never).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RejectedError)
    expect((err as RejectedError).serverCode).toBe('invalid_message')
    await c.send({ type: 'count', n: 4 }) // the session goes on after a nack
    const sessions = (await received()).sessions
    expect(sessions).toContainEqual([1, 2, 3, 4].map((n) => ({ type: 'count', n })))
  })

  it('resumes after a dropped connection: every message exactly once, in order, both directions', async () => {
    const p = await proxy()
    const c = client(p.url('/realtime'))
    const got: number[] = []
    c.onMessage('tick', (m) => got.push(m.n))
    await c.connect()
    const total = 200
    let pumped = 0
    const pump = (async () => {
      while (pumped < total) {
        await tick(10, pumped + 1)
        pumped += 10
      }
    })()
    const sent: Promise<void>[] = []
    for (let n = 1; n <= 30; n++) sent.push(c.send({ type: 'count', n }))
    await until(() => got.length >= 40, 15_000, '40 ticks')
    p.dropAll()
    const lost = await waitFor(statusOf(c), (e) => e.status === 'reconnecting')
    expect(['connection_lost', 'server_closed', 'post_failed']).toContain(lost.reason) // post_failed: the drop hit a POST in flight
    for (let n = 31; n <= 60; n++) sent.push(c.send({ type: 'count', n }))
    await waitFor(statusOf(c), (e) => e.status === 'open')
    await pump
    await Promise.all(sent)
    await until(() => got.length >= total, 15_000, `${total} ticks`)
    expect(got).toEqual(Array.from({ length: total }, (_, i) => i + 1))
    expect(c.stats.resumes).toBeGreaterThanOrEqual(1)
    expect(c.stats.resets).toBe(0)
    const sessions = (await received()).sessions
    const mine = sessions.find((s) => s.length === 60)
    expect(mine).toEqual(Array.from({ length: 60 }, (_, i) => ({ type: 'count', n: i + 1 })))
  })

  it('stays up while idle for several heartbeat periods (hb 2 s: pings on WebSocket, hb frames on SSE)', async () => {
    const c = client(`${base}/realtime`)
    await c.connect()
    const lost: StatusEvent[] = []
    c.on('status', (e) => e.status !== 'open' && lost.push(e))
    await new Promise((r) => setTimeout(r, 4 * HB_MS + 500)) // beyond 2.5 × hb (SSE silence) and 3 × hb (server idle close)
    expect(lost).toEqual([])
    expect(c.status).toBe('open')
  })

  it('a silent client is dropped by the server (idle close / no pings) and reconnects into the same session', async () => {
    if (transport === 'sse') {
      // SSE: stop reading by stalling the proxy; the client's silence timer (2.5 × hb) must fire.
      const p = await proxy()
      const c = client(p.url('/realtime'))
      await c.connect()
      p.stallAll()
      const e = await waitFor(statusOf(c), (e) => e.status === 'reconnecting', 15_000)
      expect(e.reason).toBe('sse_silent')
      return
    }
    const c = client(`${base}/realtime`, { pingIntervalMs: 0 })
    await c.connect()
    const e = await waitFor(statusOf(c), (e) => e.status === 'reconnecting', 15_000)
    expect(e.reason).toBe('connection_lost')
    expect(e.detail).toMatch(/no ping from client|4408/)
    await waitFor(statusOf(c), (e) => e.status === 'open')
    expect(c.stats.resumes).toBe(1)
  })
})

describe('FastAPI server: protocol edges, frame by frame', () => {
  it('acks, repeats a lost nack for a resend, refuses a sequence gap, echoes ping n', async () => {
    const p = wsPeer(`${base}/realtime`) // every frame must parse as a protocol frame
    try {
      const hello = await p.next('hello')
      expect(hello).toMatchObject({ resumed: false, hb: HB_MS, maxFrameBytes: 1_048_576 })
      expect(String(hello.sid)).toMatch(/^[A-Za-z0-9_-]{32}$/)
      const send = p.send
      send({ t: 'msg', seq: 1, d: { type: 'echo', text: 'a' } })
      expect(await p.next('ack')).toEqual({ t: 'ack', seq: 1 })
      expect(await p.next('msg')).toEqual({ t: 'msg', id: 1, d: { type: 'echo', text: 'a' } })
      send({ t: 'msg', seq: 3, d: { type: 'echo', text: 'skipped ahead' } })
      expect(await p.next('nack')).toEqual({ t: 'nack', seq: 3, code: 'bad_frame', message: 'sequence gap: expected seq 2' })
      send({ t: 'msg', seq: 2, d: { type: 'nope' } })
      const nack = await p.next('nack')
      expect(nack).toMatchObject({ t: 'nack', seq: 2, code: 'invalid_message' })
      send({ t: 'msg', seq: 2, d: { type: 'nope' } }) // resent: its nack was "lost"
      expect(await p.next('nack')).toEqual(nack)
      send({ t: 'msg', seq: 1, d: { type: 'echo', text: 'a' } }) // resent: acked, not processed again
      expect(await p.next('ack')).toEqual({ t: 'ack', seq: 1 })
      send({ t: 'ping', n: 5 })
      expect(await p.next('pong')).toEqual({ t: 'pong', n: 5 })
      send({ t: 'nope' })
      expect(await p.next('error')).toMatchObject({ t: 'error', code: 'bad_frame' })
      expect(p.rest().filter((f) => f.t === 'msg')).toEqual([]) // nothing was processed twice
    } finally {
      p.ws.close()
    }
  })
})

describe('FastAPI server: fallback and diagnosis', () => {
  it('a proxy refusing upgrades moves the client to SSE + POST against FastAPI', async () => {
    const p = await proxy('refuse')
    const c = makeClient(p.url('/realtime'))
    const opened = waitFor(statusOf(c), (e) => e.status === 'open')
    await c.connect()
    expect([(await opened).transport, (await opened).reason]).toEqual(['sse', 'ws_refused'])
    const echoed = waitFor(messagesOf(c), (m) => m.type === 'echo')
    await c.send({ type: 'echo', text: 'fallback' })
    await echoed
  })

  it('answers a handshake without Upgrade with 426, and doctor finds WebSocket working', async () => {
    const res = await fetch(`${base}/realtime`, { headers: { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' } })
    expect(res.status).toBe(426)
    expect(await res.text()).toMatch(/proxy_set_header Upgrade/)
    const report = await runDoctor(`${base}/realtime`)
    expect([report.transport, report.ok, report.cause]).toEqual(['websocket', true, null])
  })

})

describe('FastAPI server: topic on published messages, seq in hello (docs/PROTOCOL.md)', () => {
  it('a msg published to a topic carries it; one sent to the session does not; hello.seq is the session lastSeq', async () => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/realtime?v=1`)
    const frames: Record<string, unknown>[] = []
    ws.on('message', (d) => frames.push(JSON.parse(String(d))))
    await until(() => frames.length > 0, 10_000, 'hello')
    expect(frames[0]).toMatchObject({ t: 'hello', resumed: false, seq: 0 })
    ws.send(JSON.stringify({ t: 'sub', topic: 'builds', seq: 1 }))
    await until(() => frames.some((f) => f.t === 'ack'), 10_000, 'the ack of the sub')
    await fetch(`${base}/_test/publish?topic=builds&n=7`, { method: 'POST' })
    await fetch(`${base}/_test/publish?topic=other&n=8`, { method: 'POST' })
    await tick(1, 9)
    await until(() => frames.filter((f) => f.t === 'msg').length === 2, 10_000, 'two messages')
    const msgs = frames.filter((f) => f.t === 'msg')
    expect(msgs[0]).toMatchObject({ topic: 'builds', d: { type: 'tick', n: 7 } })
    expect(msgs[1]).toMatchObject({ d: { type: 'tick', n: 9 } })
    expect(msgs[1]).not.toHaveProperty('topic')
    const sid = (frames[0] as { sid: string }).sid
    ws.close()
    const again = new WebSocket(`${base.replace(/^http/, 'ws')}/realtime?v=1&sid=${sid}&last=2`)
    const hello = await new Promise<Record<string, unknown>>((r) => again.once('message', (d) => r(JSON.parse(String(d)))))
    expect(hello).toMatchObject({ sid, resumed: true, seq: 1 })
    again.close()
  })
})

describe('FastAPI server: notices=1 (docs/PROTOCOL.md "notice")', () => {
  it('a client announcing notices=1 (every RealtimeClient does) is served as any other; a server without a broker sends no notice', async () => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/realtime?v=1&notices=1`)
    const frames: Record<string, unknown>[] = []
    ws.on('message', (d) => frames.push(JSON.parse(String(d))))
    await until(() => frames.length > 0, 10_000, 'hello')
    expect(frames[0]).toMatchObject({ t: 'hello', resumed: false })
    ws.send(JSON.stringify({ t: 'msg', seq: 1, d: { type: 'echo', text: 'n1' } }))
    await until(() => frames.some((f) => f.t === 'msg') && frames.some((f) => f.t === 'ack'), 10_000, 'the echo and the ack')
    expect(frames.map((f) => f.t).sort()).toEqual(['ack', 'hello', 'msg'])
    ws.close()
    const res = await fetch(`${base}/realtime?v=1&notices=1`, { headers: { Accept: 'text/event-stream' } })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const first = new TextDecoder().decode((await reader.read()).value)
    expect(first).toMatch(/"t":"hello"/)
    await reader.cancel()
  })
})

describe('FastAPI server: WebSocket array messages (contract B1, docs/PROTOCOL.md)', () => {
  it('hello says batch: true; an array is one batch (acks before a nack); a bad element: nothing processed', async () => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/realtime?v=1`)
    const frames: Record<string, unknown>[] = []
    ws.on('message', (d) => frames.push(JSON.parse(String(d))))
    await until(() => frames.length > 0, 10_000, 'hello')
    expect(frames[0]).toMatchObject({ t: 'hello', batch: true })
    const count = (seq: number) => ({ t: 'msg', seq, d: { type: 'chat', text: `b1 array ${seq}` } })
    ws.send(JSON.stringify([count(1), { t: 'msg', seq: 2 }])) // seq 2 lacks `d`: the whole message is a bad frame
    await until(() => frames.some((f) => f.t === 'error'), 10_000, 'the bad_frame error')
    expect(frames.find((f) => f.t === 'error')).toMatchObject({ code: 'bad_frame' })
    ws.send(JSON.stringify([count(1), { t: 'msg', seq: 2, d: { type: 'nope' } }, count(3), { t: 'ping', n: 4 }]))
    await until(() => frames.some((f) => f.t === 'pong'), 10_000, 'the pong')
    const replies = frames.filter((f) => f.t === 'ack' || f.t === 'nack' || f.t === 'pong').map((f) => ({ t: f.t, seq: f.seq }))
    expect(replies).toEqual([
      { t: 'ack', seq: 1 },
      { t: 'nack', seq: 2 },
      { t: 'ack', seq: 3 },
      { t: 'pong', seq: undefined },
    ])
    const { sessions } = await received()
    expect(sessions.find((s) => JSON.stringify(s).includes('b1 array'))).toEqual([
      { type: 'chat', text: 'b1 array 1' },
      { type: 'chat', text: 'b1 array 3' },
    ])
    ws.close()
  })
})
