import type { IncomingMessage } from 'node:http'
import { FrameError, parseClientBatch, type ServerFrame } from '../protocol'
import type { StandardSchemaV1 } from '../schema'
import { CORS_HEADERS, cors, errorBody } from './http'
import type { RealtimeServer } from './server'
import type { Session, Sink } from './session'

/** A Fetch-API request handler: `(request) => Promise<Response>`. */
export type FetchHandler = (request: Request) => Promise<Response>

type AnyServer = RealtimeServer<StandardSchemaV1, StandardSchemaV1>

/**
 * SSE + POST for the realtime path as a Fetch-API handler, for runtimes where no WebSocket
 * upgrade is possible: Next.js route handlers, Hono, Bun.serve, Deno.serve.
 *
 * It serves the same sessions as `realtime.attach(httpServer)`: in one process, a client can
 * hold its WebSocket on the Node server and fall back to SSE through this handler without
 * losing its session. The handler does not look at the path; mount it where the client's
 * `url` (or `paths.sse` / `paths.post`) points.
 *
 * `authenticate(req)` receives an IncomingMessage-shaped object with `method`, `url` (path
 * and query) and lower-cased `headers`, which is what {@link bearerToken} reads.
 *
 * ```ts
 * // app/realtime/route.ts (Next.js)
 * const handler = createFetchHandler(realtime)
 * export { handler as GET, handler as POST, handler as OPTIONS }
 * ```
 */
export function createFetchHandler<In extends StandardSchemaV1, Out extends StandardSchemaV1>(realtime: RealtimeServer<In, Out>): FetchHandler {
  const server = realtime as unknown as AnyServer
  return async (request) => {
    server.startSweep() // SSE heartbeats, even when no Node server was attached
    const req = requestLike(request)
    const allow = cors(server, req)
    if (!allow) return json(403, errorBody('forbidden', 'origin not allowed'))
    if (request.method === 'OPTIONS') {
      return new Response(null, {
        status: 204,
        headers: { ...allow, 'Access-Control-Allow-Methods': 'GET, POST, OPTIONS', 'Access-Control-Allow-Headers': CORS_HEADERS, 'Access-Control-Max-Age': '600' },
      })
    }
    if (request.method === 'GET' && req.headers['sec-websocket-key'] && !/websocket/i.test(String(req.headers.upgrade ?? ''))) {
      // A WebSocket handshake reached a runtime that cannot upgrade: say so, so the client falls back at once.
      return new Response('This endpoint serves SSE + POST only (no WebSocket upgrade here). Clients fall back to SSE + POST.\n', {
        status: 426,
        headers: { ...allow, 'Content-Type': 'text/plain' },
      })
    }
    if (request.method === 'GET') return openStream(server, request, req, allow)
    if (request.method === 'POST') return handlePost(server, request, req, allow)
    return json(405, errorBody('bad_frame', 'use GET (SSE) or POST; WebSocket upgrades need the Node server'), { ...allow, Allow: 'GET, POST, OPTIONS' })
  }
}

/** What `authenticate`, `parseOpen` and `cors` read from a request. */
function requestLike(request: Request): IncomingMessage {
  const u = new URL(request.url)
  const headers: Record<string, string> = {}
  request.headers.forEach((v, k) => (headers[k] = v))
  headers.host ??= u.host
  return { method: request.method, url: u.pathname + u.search, headers } as unknown as IncomingMessage
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers } })
}

function authFailed(auth: { failed?: boolean }, allow: Record<string, string>): Response {
  if (auth.failed) return json(500, errorBody('server_error', 'authentication is unavailable; retry later'), allow)
  return json(401, errorBody('unauthorized', 'authentication failed'), allow)
}

async function openStream(server: AnyServer, request: Request, req: IncomingMessage, allow: Record<string, string>): Promise<Response> {
  if (!String(req.headers.accept ?? '').includes('text/event-stream')) {
    return json(400, errorBody('bad_frame', 'connect with Accept: text/event-stream (SSE)'), allow)
  }
  const auth = await server.authenticate(req)
  if (!auth.ok) return authFailed(auth, allow)
  if (request.signal.aborted) return new Response(null, { status: 499 })
  const { sid, last } = server.parseOpen(req)
  const encoder = new TextEncoder()
  let open = true
  let session: Session | undefined
  let controller: ReadableStreamDefaultController<Uint8Array>
  const sink: Sink = {
    kind: 'sse',
    write: (text, id) => {
      if (open) controller.enqueue(encoder.encode(id === undefined ? `data: ${text}\n\n` : `id: ${id}\ndata: ${text}\n\n`))
    },
    close: (code) => {
      if (!open) return
      done()
      // A replaced stream is destroyed (queued chunks dropped), not left to drain: its reader may have stopped reading.
      if (code === 4409) controller.error(new Error('replaced by a newer connection'))
      else controller.close()
    },
  }
  /** The stream ended (client gone, replaced, session over): detach once, which starts the resume window. */
  const done = () => {
    if (!open) return
    open = false
    server.sseSinks.delete(sink)
    if (session) server.detach(session, sink)
  }
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c
      server.sseSinks.add(sink)
      session = server.open(sink, { sid, last, user: auth.user })
    },
    cancel: done,
  })
  request.signal.addEventListener('abort', done, { once: true })
  return new Response(body, {
    status: 200,
    headers: { ...allow, 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' },
  })
}

async function handlePost(server: AnyServer, request: Request, req: IncomingMessage, allow: Record<string, string>): Promise<Response> {
  const { sid } = server.parseOpen(req)
  if (!sid) return json(400, errorBody('bad_frame', 'POST needs the session token in the `sid` query parameter'), allow)
  const max = server.options.maxFrameBytes
  const tooLarge = () => json(413, errorBody('too_large', `body exceeds maxFrameBytes=${max}`), allow)
  if (Number(req.headers['content-length']) > max) return tooLarge()
  // Authenticate before reading the body, so anonymous callers cannot make the server buffer it.
  const auth = await server.authenticate(req)
  if (!auth.ok) return authFailed(auth, allow)
  const body = await readBody(request, max)
  if (body === null) return tooLarge()
  const session = server.sessions.get(sid)
  if (!session) return json(404, errorBody('session_unknown', 'no such session; reconnect to get a new one'), allow)
  if (server.options.identify(session.user) !== server.options.identify(auth.user)) {
    return json(403, errorBody('forbidden', 'this session belongs to another identity'), allow)
  }
  let frames
  try {
    frames = parseClientBatch(body)
  } catch (err) {
    return json(400, errorBody('bad_frame', (err as FrameError).message), allow)
  }
  const replies: ServerFrame[] = []
  await session.process(frames, (f) => replies.push(f))
  return json(200, replies, allow)
}

/** The body as text, or null once it grows past `max` bytes (reading stops there). */
async function readBody(request: Request, max: number): Promise<string | null> {
  if (!request.body) return ''
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      await reader.cancel().catch(() => {})
      return null
    }
    chunks.push(value)
  }
  const all = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    all.set(c, at)
    at += c.byteLength
  }
  return new TextDecoder().decode(all)
}
