/**
 * The `ws` adapter: the only module that loads `ws`. It accepts the upgrade and hands the core a
 * SocketLike; everything else (Origin, auth, sessions, frames) is in core/websocket.ts.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { ServerCore } from '../core/core'
import { openedSocket, type SocketLike } from '../core/websocket'
import type { RealtimeRequest } from '../request'
import { nodeRequest, type NodeUpgrader } from './http'
import { encodeTextFrames } from './ws-frames'

const servers = new WeakMap<ServerCore, WebSocketServer>()

/** How long close frames (1001) get to reach clients on shutdown before sockets are cut. */
const SHUTDOWN_GRACE_MS = 1_000

function serverFor(core: ServerCore): WebSocketServer {
  let wss = servers.get(core)
  if (wss) return wss
  wss = new WebSocketServer({ noServer: true, maxPayload: core.options.maxFrameBytes, perMessageDeflate: false })
  servers.set(core, wss)
  const ws = wss
  core.onClose(async () => {
    const open = [...ws.clients]
    let grace: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      Promise.all(open.map((c) => new Promise<void>((r) => (c.readyState === c.CLOSED ? r() : c.once('close', () => r()))))),
      new Promise<void>((r) => (grace = setTimeout(r, SHUTDOWN_GRACE_MS)).unref?.()),
    ])
    clearTimeout(grace) // no timer outlives close()
    for (const c of ws.clients) c.terminate()
    await new Promise<void>((r) => ws.close(() => r()))
  })
  return wss
}

/**
 * The core's view of one `ws` socket. A class, not an object of closures: its methods live on the
 * prototype, so an idle connection holds one small object (memory per connection).
 */
class WsSocket implements SocketLike {
  constructor(
    private readonly ws: WebSocket,
    private readonly raw: Duplex,
  ) {}

  sendAll(texts: readonly string[]): void {
    if (this.ws.readyState !== this.ws.OPEN) return
    // One buffer, one write: a burst of frames leaves in one TCP write and arrives in one read on the client.
    this.raw.write(encodeTextFrames(texts))
  }

  buffered(): number {
    return this.ws.bufferedAmount
  }

  onDrain(cb: () => void): void {
    if (this.raw.writableNeedDrain) this.raw.once('drain', cb)
    else setTimeout(cb, 5)
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason)
  }

  destroy(): void {
    this.ws.terminate()
  }
}

/** Protocol violations (1002, 1009) and resets: the client's doing, not a server error; ws closes the socket itself. One function for every socket. */
const ignoreError = () => {}

/**
 * Hand an accepted socket to the core. A function of its own (not inline in the upgrade callback),
 * so the listeners it adds do not keep the upgrade's `req` (headers and all) alive for the life of
 * the connection (memory per connection).
 */
function serveSocket(core: ServerCore, ws: WebSocket, raw: Duplex, req: RealtimeRequest): void {
  ws.on('error', ignoreError)
  const h = openedSocket(core, new WsSocket(ws, raw), req)
  ws.on('message', (data: Buffer, binary: boolean) => h.message(binary ? null : data.toString('utf8')))
  ws.on('close', () => h.closed())
}

export const wsUpgrader: NodeUpgrader = (core, req: IncomingMessage, socket, head) => {
  const request = nodeRequest(req)
  serverFor(core).handleUpgrade(req, socket, head, (ws) => serveSocket(core, ws, socket, request))
}
