/**
 * The client against hostile and broken servers (issue #12, client items; issue #11 item 3):
 *
 * - transports report how they ended as data (`cause`, `status`, `serverCode`), never as text to match;
 * - a server frame with a mistyped field (a 10,000-deep array as `message`) is a bad frame on `error`,
 *   never a crash, and the connection carries on;
 * - one endless SSE line fails the stream with cause `protocol` instead of growing memory;
 * - a message `send()` accepts is never refused by the server for size: the check is exact, where
 *   the frame is serialised, and a frame over the server's limit rejects that one send `too_large`;
 * - a POST that never answers closes the transport (`post_timeout`); queued sends go out after the reconnect.
 *
 * Against real servers on 127.0.0.1: the reference server, or a peer each test scripts.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { compat, FrameError, SurewireError, type StatusEvent, type TransportKind } from '../../src'
import { surewireCodec } from '../../src/client/codec'
import { openTransport, type TransportContext } from '../../src/client/open'
import type { TransportClose, TransportHandlers } from '../../src/client/transport'
import { resolveEndpoints } from '../../src/client/url'
import type { ServerFrame } from '../../src/protocol'
import { closeClients, makeClient, startServer, TestWebSocket, until, waitFor, type TestServer } from '../support/servers'
import { deepJson, hello, hostilePeer, refuseUpgrade, sseHead, type HostilePeer } from './fixtures/hostile-peer'

const nodeWs = TestWebSocket.name === 'WebSocket' && typeof (TestWebSocket.prototype as { once?: unknown }).once === 'function'

// ---------------------------------------------------------------- process-level watchdogs

const uncaught: unknown[] = []
const onUncaught = (e: unknown) => uncaught.push(e)
beforeAll(() => {
  process.on('uncaughtException', onUncaught)
  process.on('unhandledRejection', onUncaught)
})
afterAll(() => {
  process.off('uncaughtException', onUncaught)
  process.off('unhandledRejection', onUncaught)
})

let peer: HostilePeer
beforeEach(async () => {
  peer = await hostilePeer()
})
afterEach(async () => {
  closeClients()
  await peer.close()
  await new Promise((r) => setTimeout(r, 20)) // let a stray exception surface
  expect(uncaught.splice(0).map(String), 'uncaught exceptions / unhandled rejections').toEqual([])
})

const statusOf = (c: ReturnType<typeof makeClient>) => (fn: (e: StatusEvent) => void) => c.on('status', fn)
const errorsOf = (c: ReturnType<typeof makeClient>) => {
  const errors: Error[] = []
  c.on('error', (e) => errors.push(e))
  return errors
}

/** A stream that opens the session and keeps the socket for the test. */
function openSse(res: import('node:http').ServerResponse, extra: Record<string, unknown> = {}) {
  sseHead(res)
  res.write(`data: ${hello(extra)}\n\n`)
}

// ---------------------------------------------------------------- 1. causes are data

/** Open one transport directly and collect what it reports. */
function transport(kind: TransportKind, url: string, opts: Partial<TransportContext> = {}) {
  const frames: ServerFrame[] = []
  const bad: FrameError[] = []
  let closed: ((i: TransportClose) => void) | undefined
  const close = new Promise<TransportClose>((r) => (closed = r))
  const h: TransportHandlers = {
    onOpen() {},
    onFrame: (f) => frames.push(f),
    onBadFrame: (e) => bad.push(e),
    onUnsendable() {},
    onClose: (i) => closed!(i),
  }
  const ctx: TransportContext = {
    WebSocket: TestWebSocket,
    fetch: globalThis.fetch.bind(globalThis),
    endpoints: resolveEndpoints(url),
    maxFrameBytes: () => Infinity,
    postTimeoutMs: 15_000,
    ...opts,
  }
  const t = openTransport(surewireCodec, kind, ctx, { token: 'tok', sid: undefined, lastId: 0 }, h)
  return { t, frames, bad, close }
}

describe('transports report how they ended as data (C1)', () => {
  it('WebSocket: a refused handshake is `refused` with its status (ws in Node) or `network` (WHATWG: no status)', async () => {
    peer.script.upgrade = (socket) => refuseUpgrade(socket, 426, '[{"t":"error","code":"upgrade_headers_dropped","message":"x"}]')
    const info = await transport('websocket', peer.url).close
    expect(info.opened).toBe(false)
    if (nodeWs) expect([info.cause, info.status]).toEqual(['refused', 426])
    else expect([info.cause, info.status]).toEqual(['network', undefined])
  })

  it('WebSocket: a drop without a close frame is `network`; a close frame is `closed` with the code and the last error frame', async () => {
    peer.script.ws = (ws) => {
      ws.send(hello())
      setTimeout(() => ws.terminate(), 20)
    }
    const dropped = await transport('websocket', peer.url).close
    expect([dropped.opened, dropped.cause, dropped.code]).toEqual([true, 'network', 1006])

    peer.script.ws = (ws) => {
      ws.send(JSON.stringify({ t: 'error', code: 'origin_not_allowed', message: 'Origin https://x does not match Host y', fatal: true }))
      ws.close(4403, 'origin')
    }
    const refused = await transport('websocket', peer.url).close
    expect(refused).toMatchObject({ opened: true, cause: 'closed', code: 4403, serverCode: 'origin_not_allowed', serverMessage: 'Origin https://x does not match Host y', fatal: true })
  })

  it('SSE: a refused GET is `refused` with status and the error body; an ended stream is `closed`; a reset is `network`', async () => {
    peer.script.sse = (res) => res.writeHead(403, { 'Content-Type': 'application/json' }).end('[{"t":"error","code":"origin_not_allowed","message":"no","fatal":true}]')
    expect(await transport('sse', peer.url).close).toMatchObject({ opened: false, cause: 'refused', status: 403, serverCode: 'origin_not_allowed', serverMessage: 'no', fatal: true })

    peer.script.sse = (res) => {
      openSse(res)
      setTimeout(() => res.end(), 20)
    }
    expect(await transport('sse', peer.url).close).toMatchObject({ opened: true, cause: 'closed' })

    peer.script.sse = (res) => {
      openSse(res)
      setTimeout(() => res.socket?.destroy(), 20)
    }
    expect(await transport('sse', peer.url).close).toMatchObject({ opened: true, cause: 'network' })
  })

  it('POST: a non-2xx is `post_refused` (status, server code); a reset is `post_failed`; no answer is `post_timeout`', async () => {
    peer.script.sse = (res) => openSse(res)
    const post = async (answer: NonNullable<HostilePeer['script']['post']>, opts: Partial<TransportContext> = {}) => {
      peer.script.post = answer
      const x = transport('sse', peer.url, opts)
      await until(() => x.frames.some((f) => f.t === 'hello'))
      x.t.send([{ t: 'msg', seq: 1, d: { type: 'count', n: 1 } }])
      return x.close
    }
    expect(await post((_b, res) => res.writeHead(429, { 'Content-Type': 'application/json' }).end('[{"t":"error","code":"rate_limited","message":"slow down"}]'))).toMatchObject({
      cause: 'post_refused',
      status: 429,
      serverCode: 'rate_limited',
      serverMessage: 'slow down',
    })
    expect(await post((_b, res) => res.socket?.destroy())).toMatchObject({ cause: 'post_failed' })
    const started = performance.now()
    expect(await post(() => {}, { postTimeoutMs: 300 })).toMatchObject({ cause: 'post_timeout' })
    expect(performance.now() - started).toBeGreaterThanOrEqual(290)
  })
})

// ---------------------------------------------------------------- 2. every field type-checked, nothing thrown

describe('a server frame with a mistyped field is a bad frame, never a crash (#12 item 5)', () => {
  const deep = deepJson(10_000)
  const hostile = [
    `{"t":"error","code":"server_error","message":${deep}}`,
    `{"t":"error","code":${deep},"message":"x"}`,
    `{"t":"nack","seq":1,"code":"invalid_message","message":${deep}}`,
    `{"t":"error","code":"server_error","message":"x","fatal":${deep}}`,
    `{"t":"msg","id":${deep},"d":1}`,
    `{"t":${deepJson(10_000, true)}}`,
  ]

  for (const kind of ['websocket', 'sse'] as const) {
    it(`${kind}: ${hostile.length} frames with 10,000-deep fields go to \`error\` as FrameError; the connection carries on`, async () => {
      const tail = JSON.stringify({ t: 'msg', id: 1, d: { type: 'tick', n: 1 } })
      if (kind === 'websocket') {
        peer.script.ws = (ws) => {
          ws.send(hello())
          for (const f of hostile) ws.send(f)
          ws.send(tail)
        }
      } else {
        peer.script.sse = (res) => {
          openSse(res)
          for (const f of hostile) res.write(`data: ${f}\n\n`)
          res.write(`data: ${tail}\n\n`)
        }
      }
      const c = makeClient(peer.url, { transports: [kind] })
      const errors = errorsOf(c)
      const tick = waitFor<{ type: string }>((fn) => c.on('message', fn))
      await c.connect()
      expect(await tick).toEqual({ type: 'tick', n: 1 })
      expect(errors.map((e) => [e instanceof FrameError, (e as SurewireError).code])).toEqual(hostile.map(() => [true, 'bad_frame']))
      expect(errors.every((e) => e instanceof SurewireError && e.message.length < 300)).toBe(true)
      expect(c.status).toBe('open')
      expect(c.stats.attempts).toBe(1)
    })
  }

  it('SSE: a POST answer with a 10,000-deep nack message is a bad frame; the send is still settled by the next answer', async () => {
    peer.script.sse = (res) => openSse(res)
    let n = 0
    peer.script.post = (_body, res) => {
      n++
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(n === 1 ? `[{"t":"nack","seq":1,"code":"invalid_message","message":${deep}}]` : '[{"t":"ack","seq":2}]')
    }
    const c = makeClient(peer.url, { transports: ['sse'] })
    const errors = errorsOf(c)
    await c.connect()
    const first = c.send({ type: 'count', n: 1 })
    await until(() => errors.length === 1)
    expect(errors[0]).toBeInstanceOf(FrameError)
    await Promise.all([first, c.send({ type: 'count', n: 2 })]) // the ack for seq 2 covers seq 1
    expect(c.status).toBe('open')
  })
})

// ---------------------------------------------------------------- 3. one endless SSE line

describe('one endless SSE line fails the stream with a reason instead of growing memory (#12 item 6)', () => {
  for (const shape of ['one line without a newline', 'data lines without the blank line'] as const) {
    it(`${shape}: the stream fails (cause \`protocol\`), the client reconnects and is served`, async () => {
      const chunk = shape === 'one line without a newline' ? 'x'.repeat(64 * 1024) : `data: ${'x'.repeat(1024)}\n`.repeat(64)
      let sent = 0
      peer.script.sse = (res, req) => {
        openSse(res, { maxFrameBytes: 64 * 1024 }) // bound: 4 × 64 KiB
        if (peer.seen.gets > 1) return void res.write(`data: ${JSON.stringify({ t: 'msg', id: 1, d: { type: 'tick', n: 1 } })}\n\n`)
        if (shape === 'one line without a newline') res.write('data: ')
        const pump = () => {
          let more = true
          while (more && sent < 64 * 1024 * 1024 && !res.destroyed) {
            more = res.write(chunk)
            sent += chunk.length
          }
          if (sent < 64 * 1024 * 1024 && !res.destroyed) res.once('drain', pump)
        }
        req.socket.on('close', () => res.destroy())
        pump()
      }
      const c = makeClient(peer.url, { transports: ['sse'] })
      const lost = waitFor(statusOf(c), (e) => e.status === 'reconnecting', 30_000, 'the stream to fail')
      const tick = waitFor<{ type: string }>((fn) => c.on('message', fn), undefined, 30_000, 'a message on the next stream')
      await c.connect()
      const e = await lost
      expect(e.detail).toMatch(/^SSE line or event of \d+\+ characters; the client's bound is 262144/)
      expect(await tick).toEqual({ type: 'tick', n: 1 })
      expect(sent).toBeLessThan(16 * 1024 * 1024) // the client hung up long before the 64 MiB the server had to send
    })
  }

  it('memory: heap and RSS of a client fed an endless line stay bounded (child process, --expose-gc)', async () => {
    // The peer sends one line without a newline until the client hangs up (or 256 MiB).
    let sent = 0
    let hungUp = false
    peer.script.sse = (res, req) => {
      if (peer.seen.gets > 1) return void res.writeHead(503).end() // only the first stream floods
      openSse(res) // default maxFrameBytes (1 MiB): bound 4 Mi characters
      res.write('data: ')
      const chunk = 'y'.repeat(64 * 1024)
      req.socket.on('close', () => {
        hungUp = true
        res.destroy()
      })
      const pump = () => {
        let more = true
        while (more && sent < 256 * 1024 * 1024 && !res.destroyed) {
          more = res.write(chunk)
          sent += chunk.length
        }
        if (sent < 256 * 1024 * 1024 && !res.destroyed) res.once('drain', pump)
        else if (!res.destroyed) res.end()
      }
      pump()
    }
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(new URL('./fixtures/sse-flood-child.ts', import.meta.url)), peer.url], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d))
    child.stderr.on('data', (d: Buffer) => (err += d))
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    expect(code, err).toBe(0)
    const r = JSON.parse(out.trim().split('\n').pop()!) as { heapBefore: number; heapPeak: number; heapAfter: number; rssBefore: number; rssPeak: number; reason: string; detail: string }
    const mib = (n: number) => (n / 1024 / 1024).toFixed(1)
    console.log(
      `endless SSE line: the peer sent ${mib(sent)} MiB before the client hung up (${hungUp ? 'hung up' : 'never hung up'}); ` +
        `client heap ${mib(r.heapBefore)} → peak ${mib(r.heapPeak)} → ${mib(r.heapAfter)} MiB after GC; RSS ${mib(r.rssBefore)} → peak ${mib(r.rssPeak)} MiB; status reason ${r.reason}`,
    )
    expect(r.detail).toMatch(/the client's bound is 4194304/)
    expect(hungUp).toBe(true)
    expect(sent).toBeLessThan(64 * 1024 * 1024)
    expect(r.heapPeak - r.heapBefore).toBeLessThan(48 * 1024 * 1024)
    expect(r.heapAfter - r.heapBefore).toBeLessThan(4 * 1024 * 1024)
  })
})

// ---------------------------------------------------------------- 4. exact size check

describe('a message send() accepts is never refused by the server for size (#12 item 7)', () => {
  let s: TestServer
  const received: number[] = []
  beforeAll(async () => {
    s = await startServer({ maxFrameBytes: 1_000 })
    s.realtime.on('connection', (conn) => conn.on('message', (m) => m.type === 'chat' && received.push(m.text.length)))
  })
  afterAll(() => s.close())

  /** A chat message whose JSON (`{"type":"chat","text":"…"}`, 25 bytes + the text) is `bytes` long. */
  const chat = (bytes: number) => ({ type: 'chat' as const, text: 'x'.repeat(bytes - 25) })
  /** Bytes of the frame the transport writes for it: `{"t":"msg","seq":N,"d":…}`, in a POST inside `[…]`. */
  const frameBytes = (json: number, seq: number, kind: TransportKind) => 23 + String(seq).length + json + (kind === 'sse' ? 2 : 0)

  for (const kind of ['websocket', 'sse'] as const) {
    it(`${kind}: at the limit it is accepted, one byte over it rejects that one send \`too_large\`, never loops; later sends go through`, async () => {
      received.length = 0
      const c = makeClient(s.url, { transports: [kind] })
      await c.connect()
      // Push seq to 10 (SSE) / 1,000 (WebSocket): the envelope grows by one digit there, where a fixed estimate goes wrong.
      const warmup = kind === 'sse' ? 9 : 999
      for (let i = 0; i < warmup; i++) await c.send({ type: 'count', n: i })
      const seq = warmup + 1
      const fits = 1_000 - frameBytes(0, seq, kind) // the largest JSON whose frame is exactly 1,000 bytes
      expect(frameBytes(fits, seq, kind)).toBe(1_000)
      // One byte over: send() takes it (its estimate cannot know the digits), the transport refuses it exactly.
      const over = await c.send(chat(fits + 1)).then(
        () => 'resolved',
        (e: SurewireError) => e.code,
      )
      expect(over).toBe('too_large')
      await c.send(chat(fits)) // the same seq, now exactly at the limit: accepted
      await c.send({ type: 'chat', text: 'after' })
      expect(received).toEqual([fits - 25, 5])
      expect(c.status).toBe('open')
      expect(c.stats.attempts).toBe(1) // no reconnect, no resend loop
      expect(c.queued).toBe(0)
    })
  }
})

// ---------------------------------------------------------------- 5. POST timeout

describe('a POST that never answers closes the transport; queued sends go out after the reconnect (#12 item 8)', () => {
  it('the first POST stalls: post_timeout, reconnect, the send resolves on the next connection', async () => {
    peer.script.sse = (res) => openSse(res, { resumed: peer.seen.gets > 1 })
    peer.script.post = (body, res) => {
      if (peer.seen.posts.length === 1) return // never answered
      const seqs = (JSON.parse(body) as { seq?: number }[]).flatMap((f) => (f.seq ? [f.seq] : []))
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(seqs.length ? [{ t: 'ack', seq: Math.max(...seqs) }] : []))
    }
    const c = makeClient(peer.url, { transports: ['sse'], postTimeoutMs: 500 })
    const statuses: StatusEvent[] = []
    c.on('status', (e) => statuses.push(e))
    await c.connect()
    const started = performance.now()
    await c.send({ type: 'count', n: 1 })
    expect(performance.now() - started).toBeGreaterThanOrEqual(490)
    expect(statuses.find((e) => e.status === 'reconnecting')).toMatchObject({ reason: 'post_timeout', detail: 'POST got no answer within postTimeoutMs=500' })
    expect(peer.seen.posts.length).toBe(2)
    expect(JSON.parse(peer.seen.posts[1]!)).toEqual([{ t: 'msg', seq: 1, d: { type: 'count', n: 1 } }])
  })
})

// ---------------------------------------------------------------- 6. compat defaults

describe('compat(): undefined means the default (#11 item 4)', () => {
  it('compat({ tokenParam: undefined }) sends the token as access_token', async () => {
    peer.script.ws = () => {}
    const c = makeClient(peer.url, { transports: ['websocket'], protocol: compat({ tokenParam: undefined }), token: () => 'secret' })
    void c.connect()
    await until(() => peer.seen.upgrades.length === 1)
    expect(new URL(peer.seen.upgrades[0]!.url!, 'http://x').searchParams.get('access_token')).toBe('secret')
  })
})
