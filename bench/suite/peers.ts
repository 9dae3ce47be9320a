/**
 * One interface over the stacks a bench client drives: surewire's RealtimeClient, socket.io's
 * client, a raw `ws` client, and a raw `ws` client speaking surewire's protocol by hand. Used by
 * the task worker (client.ts) and the round-trip tracer (trace.ts).
 */
import { io, type ManagerOptions, type SocketOptions } from 'socket.io-client'
import { WebSocket } from 'ws'
import { RealtimeClient, type StandardSchemaV1, type WebSocketConstructor } from '../../src/index'
import type { TransportKind } from '../../src/client/transport'
import { passthrough, type BenchMsg } from './shared'

const noop = () => {}

export interface Peer {
  /** Resolves once the connection can carry messages both ways. */
  ready: Promise<void>
  /** Called with every application message. */
  onMessage: (m: BenchMsg) => void
  /** Called when messages were lost for good (surewire: a `reset`), so a task fails at once with the cause instead of waiting for its timeout. */
  onLost: (why: string) => void
  /** surewire returns its send() promise (resolved on the server's ack); the others nothing. */
  send(m: BenchMsg): Promise<void> | void
  close(): void
}

export function surewirePeer(port: number, transports: TransportKind[], incoming: StandardSchemaV1 = passthrough): Peer {
  const client = new RealtimeClient({
    url: `http://127.0.0.1:${port}/realtime`,
    incoming,
    outgoing: passthrough,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    transports,
    storage: null,
    lifecycle: null,
  })
  const peer: Peer = {
    ready: client.connect(),
    onMessage: noop,
    onLost: noop,
    send(m) {
      const p = client.send(m)
      p.catch(noop) // close() rejects what is still unacked
      return p
    },
    close: () => client.close(),
  }
  client.on('message', (m) => peer.onMessage(m as BenchMsg))
  // A slow-consumer close the replay could not cover ends in a reset: what was missed never arrives.
  let lastError = ''
  client.on('error', (e) => (lastError = e.message))
  client.on('reset', (r) => peer.onLost(`surewire reset ${r.reason} after: ${lastError || 'no error'}`))
  return peer
}

export function socketIoPeer(port: number, opts: Partial<ManagerOptions & SocketOptions> = { transports: ['websocket'] }): Peer {
  const socket = io(`http://127.0.0.1:${port}`, { forceNew: true, reconnection: false, ...opts })
  const peer: Peer = {
    ready: new Promise((resolve, reject) => {
      socket.once('connect', () => resolve())
      socket.once('connect_error', reject)
    }),
    onMessage: noop,
    onLost: noop,
    send: (m) => void socket.emit(m.type, m),
    close: () => void socket.disconnect(),
  }
  for (const type of ['welcome', 'tick', 'echo', 'done']) socket.on(type, (m: BenchMsg) => peer.onMessage(m))
  return peer
}

export function rawWsPeer(port: number, path = '/'): Peer {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`)
  const peer: Peer = {
    ready: new Promise((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    }),
    onMessage: noop,
    onLost: noop,
    send: (m) => ws.send(JSON.stringify(m)),
    close: () => ws.close(),
  }
  ws.on('message', (data) => peer.onMessage(JSON.parse(data.toString()) as BenchMsg))
  return peer
}

/** A raw `ws` client speaking surewire's protocol by hand (docs/PROTOCOL.md): the server's share of a round trip alone. */
export function rawSurewirePeer(port: number): Peer {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/realtime`)
  let seq = 0
  const peer: Peer = {
    ready: new Promise((resolve, reject) => {
      ws.once('message', () => resolve()) // hello
      ws.once('error', reject)
    }),
    onMessage: noop,
    onLost: noop,
    send: (m) => ws.send(`{"t":"msg","seq":${++seq},"d":${JSON.stringify(m)}}`),
    close: () => ws.close(),
  }
  ws.on('message', (data) => {
    const f = JSON.parse(data.toString()) as { t: string; d?: BenchMsg }
    if (f.t === 'msg' && f.d) peer.onMessage(f.d)
  })
  return peer
}
