import type { IncomingMessage, ServerResponse } from 'node:http'
import { FrameError, parseClientBatch, type ErrorCode, type ServerFrame } from '../protocol'
import type { StandardSchemaV1 } from '../schema'
import { originAllowed } from './options'
import type { RealtimeServer } from './server'
import type { Sink } from './session'

export const CORS_HEADERS = 'Authorization, Content-Type, Last-Event-ID'

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

export const errorBody = (code: ErrorCode, message: string): ServerFrame[] => [{ t: 'error', code, message, fatal: code === 'unauthorized' || code === 'forbidden' }]

/** CORS headers for an allowed cross-origin request; null when the origin is not allowed. */
export function cors(server: RealtimeServer<StandardSchemaV1, StandardSchemaV1>, req: IncomingMessage): Record<string, string> | null {
  const origin = req.headers.origin
  if (!originAllowed(server.options.allowedOrigins, origin, req.headers.host)) return null
  if (!origin) return {}
  // '*' allows any site to read, so never together with credentials (cookies); lists and functions may.
  if (server.options.allowedOrigins === '*') return { 'Access-Control-Allow-Origin': '*' }
  return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', Vary: 'Origin' }
}

/** SSE GET, POST and CORS preflight for the realtime path. */
export async function handleHttp<In extends StandardSchemaV1, Out extends StandardSchemaV1>(
  server: RealtimeServer<In, Out>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const s = server as unknown as RealtimeServer<StandardSchemaV1, StandardSchemaV1>
  const allow = cors(s, req)
  if (!allow) return json(res, 403, errorBody('forbidden', 'origin not allowed'))
  if (req.method === 'OPTIONS') {
    res.writeHead(204, { ...allow, 'Access-Control-Allow-Methods': 'GET, POST, OPTIONS', 'Access-Control-Allow-Headers': CORS_HEADERS, 'Access-Control-Max-Age': '600' })
    res.end()
    return
  }
  if (req.method === 'GET' && req.headers['sec-websocket-key'] && !/websocket/i.test(String(req.headers.upgrade ?? ''))) {
    // The classic broken proxy: it forwarded the WebSocket handshake but dropped Upgrade/Connection.
    res.writeHead(426, { ...allow, 'Content-Type': 'text/plain', Upgrade: 'websocket', Connection: 'Upgrade' })
    res.end('WebSocket handshake arrived without the Upgrade header: a proxy in front of this server dropped it (nginx: proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"). Clients fall back to SSE + POST.\n')
    return
  }
  if (req.method === 'GET') return openStream(server, req, res, allow)
  if (req.method === 'POST') return handlePost(server, req, res, allow)
  return json(res, 405, errorBody('bad_frame', 'use GET (SSE), POST, or a WebSocket upgrade'), { ...allow, Allow: 'GET, POST, OPTIONS' })
}

async function openStream<In extends StandardSchemaV1, Out extends StandardSchemaV1>(
  server: RealtimeServer<In, Out>,
  req: IncomingMessage,
  res: ServerResponse,
  allow: Record<string, string>,
): Promise<void> {
  if (!String(req.headers.accept ?? '').includes('text/event-stream')) {
    return json(res, 400, errorBody('bad_frame', 'connect with a WebSocket upgrade or with Accept: text/event-stream (SSE)'), allow)
  }
  const auth = await server.authenticate(req)
  if (!auth.ok) return authFailed(res, auth, allow)
  if (req.destroyed) return
  const { sid, last } = server.parseOpen(req)
  res.writeHead(200, {
    ...allow,
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    'X-Accel-Buffering': 'no',
    Connection: 'keep-alive',
  })
  req.socket.setNoDelay(true)
  req.socket.setTimeout(0)
  let open = true
  // Events written in one tick go out as one chunk at the end of the tick: a burst of sends costs
  // one write here and one read, decode and parse call in the client instead of one per event.
  let pending = ''
  const flush = () => {
    if (open && pending) res.write(pending)
    pending = ''
  }
  const sink: Sink = {
    kind: 'sse',
    write: (text, id) => {
      if (!open) return
      if (!pending) process.nextTick(flush)
      pending += id === undefined ? `data: ${text}\n\n` : `id: ${id}\ndata: ${text}\n\n`
    },
    close: (code) => {
      flush()
      open = false
      res.end()
      // A replaced stream is destroyed, not left to drain: its reader may have stopped reading.
      if (code === 4409) res.destroy()
    },
  }
  server.sseSinks.add(sink)
  const session = server.open(sink, { sid, last, user: auth.user })
  const done = () => {
    open = false
    server.sseSinks.delete(sink)
    server.detach(session, sink)
  }
  res.on('close', done)
  res.on('error', done)
}

async function handlePost<In extends StandardSchemaV1, Out extends StandardSchemaV1>(
  server: RealtimeServer<In, Out>,
  req: IncomingMessage,
  res: ServerResponse,
  allow: Record<string, string>,
): Promise<void> {
  const { sid } = server.parseOpen(req)
  if (!sid) return json(res, 400, errorBody('bad_frame', 'POST needs the session token in the `sid` query parameter'), allow)
  const max = server.options.maxFrameBytes
  const declared = Number(req.headers['content-length'])
  if (declared > max) {
    req.resume()
    return json(res, 413, errorBody('too_large', `body exceeds maxFrameBytes=${max}`), { ...allow, Connection: 'close' })
  }
  // Authenticate before reading the body, so anonymous callers cannot make the server buffer it.
  const auth = await server.authenticate(req)
  if (!auth.ok) {
    req.resume()
    return authFailed(res, auth, allow)
  }
  const body = await readBody(req, max)
  if (body === undefined) return // the client went away mid-body: nobody to answer, nothing went wrong here
  if (body === null) return json(res, 413, errorBody('too_large', `body exceeds maxFrameBytes=${max}`), { ...allow, Connection: 'close' })
  const session = server.sessions.get(sid)
  if (!session) return json(res, 404, errorBody('session_unknown', 'no such session; reconnect to get a new one'), allow)
  if (server.options.identify(session.user) !== server.options.identify(auth.user)) {
    return json(res, 403, errorBody('forbidden', 'this session belongs to another identity'), allow)
  }
  let frames
  try {
    frames = parseClientBatch(body)
  } catch (err) {
    return json(res, 400, errorBody('bad_frame', (err as FrameError).message), allow)
  }
  const replies: ServerFrame[] = []
  await session.process(frames, (f) => replies.push(f))
  json(res, 200, replies, allow)
}

/** 401 for refused credentials; 500 (retryable) when authenticate() itself failed. */
function authFailed(res: ServerResponse, auth: { failed?: boolean }, allow: Record<string, string>): void {
  if (auth.failed) return json(res, 500, errorBody('server_error', 'authentication is unavailable; retry later'), allow)
  json(res, 401, errorBody('unauthorized', 'authentication failed'), allow)
}

/** Read a body up to `max` bytes; null when it is larger, undefined when the client aborted it. */
function readBody(req: IncomingMessage, max: number): Promise<string | null | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let over = false
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > max) over = true
      else chunks.push(c)
    })
    req.on('end', () => resolve(over ? null : Buffer.concat(chunks).toString('utf8')))
    req.on('error', () => resolve(undefined)) // 'aborted': the client closed the connection before the body ended
  })
}
