import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'
import { CloseCode, FrameError, parseClientFrame, type ServerFrame } from '../protocol'
import type { StandardSchemaV1 } from '../schema'
import type { RealtimeServer } from './server'
import type { Sink } from './session'

/** Serve one upgraded WebSocket: authenticate, attach to a session, move frames. */
export async function handleWebSocket<In extends StandardSchemaV1, Out extends StandardSchemaV1>(
  server: RealtimeServer<In, Out>,
  ws: WebSocket,
  req: IncomingMessage,
  /** The upgraded socket under `ws`, so frames written in one tick can share one TCP write. */
  socket?: Duplex,
): Promise<void> {
  ws.on('error', (err) => server.reportError(err))
  // Cork the socket for the rest of the tick on the first write: a burst of frames leaves in one
  // write here and arrives in one read on the client, instead of one of each per frame.
  let corked = false
  const uncork = () => {
    corked = false
    socket?.uncork()
  }
  const write = (text: string) => {
    if (ws.readyState !== ws.OPEN) return
    if (socket && !corked) {
      corked = true
      socket.cork()
      process.nextTick(uncork)
    }
    ws.send(text)
  }
  const send = (f: ServerFrame) => write(JSON.stringify(f))
  const early: { data: Buffer; binary: boolean }[] = []
  const onEarly = (data: Buffer, binary: boolean) => {
    if (early.push({ data, binary }) > 64) ws.close(CloseCode.badFrame, 'too many frames before authentication finished')
  }
  ws.on('message', onEarly)
  const auth = await server.authenticate(req)
  if (ws.readyState !== ws.OPEN) return
  if (!auth.ok && auth.failed) {
    send({ t: 'error', code: 'server_error', message: 'authentication is unavailable; retry later' })
    ws.close(1011, 'authentication unavailable')
    return
  }
  if (!auth.ok) {
    // Accept-then-close so browsers (which never see an HTTP status) get a reason they can show.
    send({ t: 'error', code: 'unauthorized', message: 'authentication failed', fatal: true })
    ws.close(CloseCode.unauthorized, 'unauthorized')
    return
  }
  const { sid, last } = server.parseOpen(req)
  const sink: Sink = {
    kind: 'websocket',
    write,
    close: (code, reason) => {
      ws.close(code, reason)
      // A replaced WebSocket is destroyed, not left to drain: its peer may have stopped reading.
      if (code === CloseCode.replaced) ws.terminate()
    },
  }
  server.wsLastSeen.set(ws, Date.now())
  const session = server.open(sink, { sid, last, user: auth.user })
  const reply = (f: ServerFrame) => (session.sink === sink ? send(f) : undefined)
  const onMessage = (data: Buffer, binary: boolean) => {
    server.wsLastSeen.set(ws, Date.now())
    if (binary) return send({ t: 'error', code: 'bad_frame', message: 'binary frames are not part of the protocol' })
    let frame
    try {
      frame = parseClientFrame(data.toString('utf8'))
    } catch (err) {
      return send({ t: 'error', code: 'bad_frame', message: (err as FrameError).message })
    }
    session.process([frame], reply, sink).catch((err) => server.reportError(err))
  }
  ws.off('message', onEarly)
  ws.on('message', onMessage)
  for (const m of early) onMessage(m.data, m.binary)
  ws.on('close', () => {
    server.wsLastSeen.delete(ws)
    server.detach(session, sink)
  })
}
