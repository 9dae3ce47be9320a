/**
 * A small scripted surewire peer for the client-state reliability tests: it speaks just enough of
 * the protocol (hello, msg, error frames; SSE + POST; WebSocket) for a test to misbehave on cue,
 * and records every request with a monotonic timestamp.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'

export interface PeerScript {
  ws?: (ws: WebSocket, req: IncomingMessage) => void
  sse?: (res: ServerResponse, req: IncomingMessage) => void
  post?: (body: string, res: ServerResponse, req: IncomingMessage) => void
  /** Answer every WebSocket upgrade with this HTTP status instead of accepting it. */
  upgradeStatus?: number
}

export interface Peer {
  url: string
  script: PeerScript
  /** Every request: kind and performance.now() at arrival. */
  requests: { kind: 'ws' | 'sse' | 'post'; at: number }[]
  close(): Promise<void>
}

export async function startPeer(script: PeerScript = {}): Promise<Peer> {
  const peer: Peer = { url: '', script, requests: [], close: async () => {} }
  const open = new Set<ServerResponse>()
  const http: Server = createServer((req, res) => {
    res.on('error', () => {})
    if (req.method === 'GET' && peer.script.sse) {
      peer.requests.push({ kind: 'sse', at: performance.now() })
      open.add(res)
      res.on('close', () => open.delete(res))
      return peer.script.sse(res, req)
    }
    if (req.method === 'POST' && peer.script.post) {
      peer.requests.push({ kind: 'post', at: performance.now() })
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => peer.script.post!(Buffer.concat(chunks).toString('utf8'), res, req))
      return
    }
    res.writeHead(404).end()
  })
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
  http.on('upgrade', (req, socket: Socket, head) => {
    socket.on('error', () => {})
    if (peer.script.upgradeStatus) {
      peer.requests.push({ kind: 'ws', at: performance.now() })
      return void socket.end(`HTTP/1.1 ${peer.script.upgradeStatus} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
    }
    if (!peer.script.ws) return socket.destroy()
    peer.requests.push({ kind: 'ws', at: performance.now() })
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => {})
      peer.script.ws!(ws, req)
    })
  })
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
  peer.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/realtime`
  peer.close = async () => {
    for (const ws of wss.clients) ws.terminate()
    for (const res of open) res.destroy()
    http.closeAllConnections()
    await new Promise<void>((r) => http.close(() => r()))
    await new Promise<void>((r) => wss.close(() => r()))
  }
  return peer
}

export const helloFrame = (over: Record<string, unknown> = {}) => JSON.stringify({ t: 'hello', sid: 'peer-session', hb: 600_000, resumed: false, maxFrameBytes: 1_048_576, ...over })

/** Answer an SSE GET with the event-stream head and a hello. */
export function sseHello(res: ServerResponse, over: Record<string, unknown> = {}): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' })
  res.socket?.setNoDelay(true)
  res.write(`data: ${helloFrame(over)}\n\n`)
}

export const sseEvent = (res: ServerResponse, frame: unknown) => void res.write(`data: ${JSON.stringify(frame)}\n\n`)

export function jsonReply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body))
}
