/**
 * The protocol peer: one hand-written surewire client for tests that drive a server at the wire
 * level (the reference server, the Fetch handler, anything behind a proxy), on each transport:
 *
 * - `wsPeer(url, query)`   a WebSocket (the `ws` package, so headers and raw frames are possible);
 * - `ssePeer(url, query)`  an SSE GET read with fetch + eventsource-parser;
 * - `postFrames(url, …)`   one POST of client frames, answered with server frames.
 *
 * Every frame a peer receives must parse as a server frame (`parseServerFrame`, the same check
 * the client applies): one that does not is kept in `bad`, makes `wait()` reject, and fails the
 * test in the afterEach below, so a server that breaks the protocol cannot pass by accident.
 * Peers are closed after each test (afterEach), whether or not the test closed them.
 *
 * How to extend: keep this about the wire, not about one test. A new frame type needs nothing
 * here (`wait('newType')` types itself from ServerFrame). A new transport gets its own
 * `xxxPeer()` returning the `Inbox` members plus its own handles, registers its teardown with
 * `track()`, and feeds raw frame text to `inbox.push()`. A new query parameter or header is an
 * argument, not a new helper. Scripted *servers* (a peer on the other side, sending chosen
 * frames to the client) belong in the test that scripts them, built on `startServer` or a plain
 * node:http server: the client's own parser is what such tests pin.
 */
import { createParser } from 'eventsource-parser'
import { afterEach, expect } from 'vitest'
import { WebSocket, type ClientOptions as WsOptions } from 'ws'
import { parseServerFrame, type ServerFrame } from '../../src/protocol'

export type Frame<T extends ServerFrame['t'] = ServerFrame['t']> = Extract<ServerFrame, { t: T }>

const BOUND_MS = 15_000

// ------------------------------------------------------------------ teardown and protocol check

const teardowns: (() => void)[] = []
const inboxes: Inbox[] = []
/** Register a peer's teardown (run after the test, newest first). */
function track(teardown: () => void): void {
  teardowns.push(teardown)
}
afterEach(() => {
  for (const fn of teardowns.splice(0).reverse()) fn()
  const bad = inboxes.splice(0).flatMap((i) => i.bad)
  expect(bad, 'frames from the server that are not protocol frames').toEqual([])
})

/** `?v=1` plus `query` (`'sid=x&a=b'`, a leading `&` or `?` is dropped). */
export function endpoint(url: string, query = ''): string {
  const q = query.replace(/^[?&]/, '')
  return `${url}?v=1${q ? '&' + q : ''}`
}

// ------------------------------------------------------------------ received frames

export interface Inbox {
  /** Every frame received, in order. */
  frames: ServerFrame[]
  /** Text received that is not a protocol frame (see the header). */
  bad: string[]
  /** The `n`th frame of type `t` matching `pred`; rejects after a generous bound or on a bad frame. */
  wait<T extends ServerFrame['t']>(t: T, pred?: (f: Frame<T>) => boolean, n?: number): Promise<Frame<T>>
  /**
   * For a frame-by-frame dialogue: the earliest frame of type `t` matching `pred` that no
   * earlier `next()` took; takes it. Same bound and protocol check as `wait`.
   */
  next<T extends ServerFrame['t']>(t: T, pred?: (f: Frame<T>) => boolean): Promise<Frame<T>>
  /** The frames no `next()` took, in order. */
  rest(): ServerFrame[]
  push(text: string): void
}

export function matching<T extends ServerFrame['t']>(frames: ServerFrame[], t: T, pred: (f: Frame<T>) => boolean = () => true): Frame<T>[] {
  return frames.filter((f): f is Frame<T> => f.t === t && pred(f as Frame<T>))
}

function inbox(): Inbox {
  const frames: ServerFrame[] = []
  const bad: string[] = []
  const waiters = new Set<() => void>()
  const taken = new Set<ServerFrame>()
  const box: Inbox = {
    frames,
    bad,
    push(text) {
      try {
        frames.push(parseServerFrame(text))
      } catch {
        bad.push(text.length > 200 ? text.slice(0, 200) + '…' : text)
      }
      for (const w of [...waiters]) w()
    },
    wait(t, pred, n = 1) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (bad.length) return done(() => reject(new Error(`not a protocol frame: ${bad[0]}`)))
          const hits = matching(frames, t, pred)
          if (hits.length >= n) done(() => resolve(hits[n - 1]!))
        }
        const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${BOUND_MS} ms waiting for ${n}× ${t} frame`))), BOUND_MS)
        const done = (settle: () => void) => {
          clearTimeout(timer)
          waiters.delete(check)
          settle()
        }
        waiters.add(check)
        check()
      })
    },
    async next(t, pred = () => true) {
      const f = await box.wait(t, (x) => !taken.has(x) && pred(x))
      taken.add(f)
      return f
    },
    rest: () => frames.filter((f) => !taken.has(f)),
  }
  inboxes.push(box)
  return box
}

/** `p`, or a rejection after a generous bound. */
export async function within<T>(p: Promise<T>, what: string, ms = BOUND_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)))
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

// ------------------------------------------------------------------ WebSocket

export interface WsPeer extends Inbox {
  ws: WebSocket
  /** Send a frame (objects are JSON-encoded, strings sent as they are). */
  send(frame: unknown): void
  /** Resolves once the socket is open. */
  opened(): Promise<void>
  /** The hello (the first frame of every session). */
  hello(): Promise<Frame<'hello'>>
  /** Resolves with the close code and reason. */
  closed(): Promise<{ code: number; reason: string }>
  /** Resolves with the socket's error (a refused handshake: "Unexpected server response: 403"). */
  error(): Promise<Error>
  /** What happened so far (an object, so it stays live when a test spreads the peer). */
  readonly state: {
    /** The close, once it happened. */
    close?: { code: number; reason: string }
    /** The socket's error, once there was one. */
    failure?: Error
  }
}

/** A WebSocket peer on `url` (http:// or ws://) with `?v=1&query`; `options` go to `ws` (headers, …). */
export function wsPeer(url: string, query = '', options?: WsOptions): WsPeer {
  const ws = new WebSocket(endpoint(url.replace(/^http/, 'ws'), query), options)
  const box = inbox()
  const state: { close?: { code: number; reason: string }; failure?: Error } = {}
  ws.on('message', (data) => box.push(String(data)))
  const opening = new Promise<void>((resolve) => ws.once('open', () => resolve()))
  const errored = new Promise<Error>((resolve) => ws.on('error', (e) => resolve((state.failure ??= e))))
  const closing = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve((state.close = { code, reason: String(reason) }))),
  )
  track(() => ws.terminate())
  return {
    ...box,
    ws,
    send: (f) => ws.send(typeof f === 'string' ? f : JSON.stringify(f)),
    opened: () => within(Promise.race([opening, errored.then((e) => Promise.reject(e))]), 'the WebSocket to open'),
    hello: () => box.wait('hello'),
    closed: () => within(closing, 'the WebSocket to close'),
    error: () => within(errored, 'a WebSocket error'),
    state,
  }
}

// ------------------------------------------------------------------ SSE

export interface SsePeer extends Inbox {
  res: Response
  /** The `id:` of every event, in order (undefined for events without one). */
  ids: (string | undefined)[]
  /** Resolves when the stream ended (or was aborted); at once for a non-200 answer. */
  ended: Promise<void>
  abort(): void
}

/** An SSE GET on `url?v=1&query`; the body is only read for 200 answers. */
export async function ssePeer(url: string, query = '', headers: Record<string, string> = {}): Promise<SsePeer> {
  const ac = new AbortController()
  track(() => ac.abort())
  const res = await fetch(endpoint(url, query), { headers: { Accept: 'text/event-stream', ...headers }, signal: ac.signal })
  const box = inbox()
  const ids: (string | undefined)[] = []
  const parser = createParser({ onEvent: (e) => (ids.push(e.id), box.push(e.data)) })
  const ended = (async () => {
    if (res.status !== 200 || !res.body) return
    const reader = res.body.getReader()
    const dec = new TextDecoder()
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) parser.feed(dec.decode(r.value, { stream: true }))
    } catch {} // aborted by the test
  })()
  return { ...box, res, ids, ended, abort: () => ac.abort() }
}

// ------------------------------------------------------------------ POST

/** POST `body` (client frames, as text) to `url?v=1[&sid=…]`; the answer's status and frames. */
export async function postFrames(url: string, sid: string | undefined, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: ServerFrame[] }> {
  const res = await fetch(endpoint(url, sid ? `sid=${sid}` : ''), { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } })
  return { status: res.status, body: (await res.json()) as ServerFrame[] }
}
