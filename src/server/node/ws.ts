/**
 * The `ws` adapter: the only module that loads `ws`. It accepts the upgrade and hands the core a
 * SocketLike; everything else (Origin, auth, sessions, frames) is in core/websocket.ts.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { ServerCore } from '../core/core'
import { openedSocket, type SocketLike } from '../core/websocket'
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

function socketLike(ws: WebSocket, raw: Duplex): SocketLike {
  return {
    sendAll(texts) {
      if (ws.readyState !== ws.OPEN) return
      // One buffer, one write: a burst of frames leaves in one TCP write and arrives in one read on the client.
      raw.write(encodeTextFrames(texts))
    },
    buffered: () => ws.bufferedAmount,
    onDrain: (cb) => (raw.writableNeedDrain ? raw.once('drain', cb) : setTimeout(cb, 5)),
    close: (code, reason) => ws.close(code, reason),
    destroy: () => ws.terminate(),
  }
}

export const wsUpgrader: NodeUpgrader = (core, req: IncomingMessage, socket, head) => {
  serverFor(core).handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => {}) // protocol violations (1002, 1009) and resets: the client's doing, not a server error; ws closes the socket itself
    const h = openedSocket(core, socketLike(ws, socket), nodeRequest(req))
    ws.on('message', (data: Buffer, binary: boolean) => h.message(binary ? null : data.toString('utf8')))
    ws.on('close', () => h.closed())
  })
}
