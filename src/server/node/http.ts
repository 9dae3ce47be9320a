/**
 * The node:http adapter: IncomingMessage / ServerResponse ↔ the core's neutral request and
 * answer. It uses no node: module at runtime (types only), so it costs nothing where only Web
 * APIs exist; WebSocket upgrades need an upgrader (./ws.ts, installed by `surewire/server`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { utf8Length } from '../../protocol'
import type { ServerCore } from '../core/core'
import { decodeBody, handleHttp, WEBSOCKET_UNSUPPORTED_MESSAGE, type BodyReader } from '../core/http'
import { errorBody } from '../core/replies'
import type { SseStream, StreamPipe } from '../core/sse'
import { headerRecord, type RealtimeRequest } from '../request'
import { SocketPipe, takeSocket } from './sse-socket'

/** Turns an upgrade request into a served WebSocket. */
export type NodeUpgrader = (core: ServerCore, req: IncomingMessage, socket: Duplex, head: Buffer) => void

let defaultUpgrader: NodeUpgrader | undefined

/** Installed by the `surewire/server` entry (the one that loads `ws`). */
export function setNodeUpgrader(upgrader: NodeUpgrader): void {
  defaultUpgrader = upgrader
}

export function nodeRequest(req: IncomingMessage): RealtimeRequest {
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers: headerRecord(Object.entries(req.headers)),
    remoteAddress: req.socket?.remoteAddress,
    adapter: 'node',
    raw: req,
  }
}

/** Serve an SSE/POST/preflight request on the realtime path. */
export async function serveNodeRequest(core: ServerCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let bodyRead = false
  const body: BodyReader = (max) => {
    bodyRead = true
    return readBody(req, max)
  }
  const pending = handleHttp(core, nodeRequest(req), body, { canUpgrade: true })
  const answer = pending instanceof Promise ? await pending : pending
  if (answer.kind === 'reply') {
    if (!bodyRead) req.resume() // drain what we did not read, so the connection can be reused
    const headers = answer.body === null ? answer.headers : { ...answer.headers, 'Content-Length': String(utf8Length(answer.body)) }
    res.writeHead(answer.status, headers)
    res.end(answer.body ?? undefined)
    return
  }
  if (req.destroyed || res.destroyed) return
  // HTTP/1.1: the socket leaves node:http once the head is out (./sse-socket.ts), so the connection ends with the stream.
  const own = req.httpVersion === '1.1'
  res.writeHead(200, { ...answer.headers, Connection: own ? 'close' : 'keep-alive' })
  req.socket.setNoDelay(true)
  req.socket.setTimeout(0)
  const socket = own ? (res.flushHeaders(), takeSocket(req, res)) : undefined
  if (socket) {
    const stream = answer.start(new SocketPipe(socket))
    ;(socket as { [STREAM]?: SseStream })[STREAM] = stream
    socket.on('close', streamGone)
    // Something (the app, a metrics hook) waits for this response's 'close': it still gets it (and res lives until then).
    if (res.listenerCount('close') > 0) socket.once('close', () => res.emit('close'))
    if (socket.destroyed) stream.gone() // it may have closed already (gone() runs once either way)
    return
  }
  const stream = answer.start(new ResponsePipe(res))
  const gone = () => stream.gone()
  res.on('close', gone)
  res.on('error', gone)
}

/** Where a taken socket keeps its stream, so that one listener function serves every socket. */
const STREAM = Symbol('surewire.stream')

function streamGone(this: { [STREAM]?: SseStream }): void {
  this[STREAM]?.gone()
}

/**
 * An SSE response as the core's byte stream. A class, not an object of closures: its methods live
 * on the prototype, so an open stream holds one small object (memory per connection).
 */
class ResponsePipe implements StreamPipe {
  constructor(private readonly res: ServerResponse) {}

  write(chunk: string): void {
    this.res.write(chunk)
  }

  buffered(): number {
    return this.res.writableLength
  }

  onDrain(cb: () => void): void {
    if (this.res.writableNeedDrain) this.res.once('drain', cb)
    else setTimeout(cb, 5)
  }

  end(): void {
    this.res.end()
  }

  destroy(): void {
    this.res.destroy()
  }
}

/** Serve a WebSocket upgrade on the realtime path. */
export function serveNodeUpgrade(core: ServerCore, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => {}) // resets during the handshake must not crash the process
  if (!defaultUpgrader) {
    const body = JSON.stringify(errorBody('websocket_unsupported', WEBSOCKET_UNSUPPORTED_MESSAGE))
    socket.end(`HTTP/1.1 426 Upgrade Required\r\nContent-Type: application/json\r\nContent-Length: ${utf8Length(body)}\r\nConnection: close\r\n\r\n${body}`)
    return
  }
  defaultUpgrader(core, req, socket, head)
}

/** Read a body up to `max` bytes; null when it is larger, undefined when the client aborted it. */
function readBody(req: IncomingMessage, max: number): Promise<string | null | undefined> {
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = []
    let size = 0
    let over = false
    req.on('data', (c: Uint8Array) => {
      size += c.byteLength
      if (size > max) over = true
      else chunks.push(c)
    })
    req.on('end', () => resolve(over ? null : decodeBody(chunks, size)))
    req.on('error', () => resolve(undefined)) // 'aborted': the client closed the connection before the body ended
  })
}


