import { FrameError, parseClientBatch, type ServerFrame } from '../../protocol'
import { BrokerError } from '../broker'
import { openParams, type RealtimeRequest } from '../request'
import type { AuthResult, ServerCore } from './core'
import { checkOrigin, corsHeaders } from './origin'
import { fail, json, type CoreReply } from './replies'
import { SSE_HEADERS, SseStream, type StreamPipe } from './sse'

export const CORS_ALLOW_HEADERS = 'Authorization, Content-Type, Last-Event-ID'

/** The request body, read by the adapter: text, null once it grows past `max` bytes, undefined when the client aborted. */
export type BodyReader = (max: number) => Promise<string | null | undefined>

/** UTF-8 text of a body read as chunks totalling `size` bytes (shared by the node:http and Fetch adapters). */
export function decodeBody(chunks: readonly Uint8Array[], size: number): string {
  const all = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    all.set(c, at)
    at += c.byteLength
  }
  return new TextDecoder().decode(all)
}

/** An SSE answer: the adapter sends status 200 with `headers`, then hands its stream to `start`. */
export interface CoreStream {
  readonly kind: 'stream'
  readonly headers: Record<string, string>
  /** Attach the stream to its session; returns the handle the adapter reports the end of the stream to. */
  start(pipe: StreamPipe): SseStream
}

export type CoreAnswer = CoreReply | CoreStream

/** What the adapter can do: node:http can upgrade to WebSocket, the Fetch handler cannot. */
export interface AdapterInfo {
  readonly canUpgrade: boolean
}

export const UPGRADE_DROPPED_MESSAGE =
  'WebSocket handshake arrived without the Upgrade header: a proxy in front of this server dropped it (nginx: proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"). Clients fall back to SSE + POST.'
export const WEBSOCKET_UNSUPPORTED_MESSAGE = 'This endpoint serves SSE + POST only (no WebSocket upgrade here). Clients fall back to SSE + POST.'

/**
 * SSE GET, POST, CORS preflight and the 426 diagnosis, for every HTTP adapter. Answers that need
 * no authentication come back synchronously, so an adapter can write them before it parses more
 * of the request (node:http answers a refused request before its body arrives).
 */
export function handleHttp(core: ServerCore, req: RealtimeRequest, body: BodyReader, adapter: AdapterInfo): CoreAnswer | Promise<CoreAnswer> {
  const o = core.options
  const origin = checkOrigin(o.allowedOrigins, o.trustForwardedHost, req)
  if (!origin.ok) return fail(403, 'origin_not_allowed', origin.message)
  const allow = corsHeaders(o.allowedOrigins, req)
  const { method } = req
  if (method === 'OPTIONS') {
    return {
      kind: 'reply',
      status: 204,
      headers: { ...allow, 'Access-Control-Allow-Methods': 'GET, POST, OPTIONS', 'Access-Control-Allow-Headers': CORS_ALLOW_HEADERS, 'Access-Control-Max-Age': '600' },
      body: null,
    }
  }
  if (method === 'GET' && req.headers['sec-websocket-key']) {
    // Node: the classic broken proxy forwarded the WebSocket handshake but dropped Upgrade/Connection.
    // Fetch: a runtime that cannot upgrade. Either way the client falls back to SSE at once.
    if (!adapter.canUpgrade) return fail(426, 'websocket_unsupported', WEBSOCKET_UNSUPPORTED_MESSAGE, allow)
    return fail(426, 'upgrade_headers_dropped', UPGRADE_DROPPED_MESSAGE, { ...allow, Upgrade: 'websocket', Connection: 'Upgrade' })
  }
  if (method === 'GET') return openStream(core, req, allow)
  if (method === 'POST') return post(core, req, body, allow)
  return fail(405, 'bad_frame', 'use GET (SSE), POST, or a WebSocket upgrade', { ...allow, Allow: 'GET, POST, OPTIONS' })
}

/** 401 for refused credentials; 500 (retryable) when authenticate() itself failed. */
function authFailed(auth: { failed?: boolean }, allow: Record<string, string>): CoreReply {
  if (auth.failed) return fail(500, 'server_error', 'authentication is unavailable; retry later', allow)
  return fail(401, 'unauthorized', 'authentication failed', allow)
}

async function openStream(core: ServerCore, req: RealtimeRequest, allow: Record<string, string>): Promise<CoreAnswer> {
  if (!(req.headers.accept ?? '').includes('text/event-stream')) {
    return fail(400, 'bad_frame', 'connect with a WebSocket upgrade or with Accept: text/event-stream (SSE)', allow)
  }
  // Connection: close, so a client's keep-alive connection (still open to this process) is not reused for its retry.
  if (core.draining) return fail(503, 'server_error', 'this server is draining; connect again (another process takes over)', { ...allow, 'Retry-After': '1', Connection: 'close' })
  const auth: AuthResult = await core.authenticate(req)
  if (!auth.ok) return authFailed(auth, allow)
  const { sid, last, notices } = openParams(req)
  core.startSweep()
  return {
    kind: 'stream',
    headers: { ...allow, ...SSE_HEADERS },
    start(pipe) {
      const stream = new SseStream(core, pipe)
      stream.open({ sid, last, user: auth.user }, notices).catch((err) => {
        core.reportError(err)
        // The shared broker did not answer (Redis down): say why before the stream ends (the client retries).
        if (err instanceof BrokerError) stream.refuse(`${err.code}: ${err.message}`)
        else pipe.destroy()
      })
      return stream
    },
  }
}

async function post(core: ServerCore, req: RealtimeRequest, body: BodyReader, allow: Record<string, string>): Promise<CoreReply> {
  const { sid } = openParams(req)
  if (!sid) return fail(400, 'bad_frame', 'POST needs the session token in the `sid` query parameter', allow)
  const max = core.options.maxFrameBytes
  // Connection: close, so the client cannot keep streaming the rest of an oversized body at us.
  const tooLarge = () => fail(413, 'too_large', `body exceeds maxFrameBytes=${max}`, { ...allow, Connection: 'close' })
  if (Number(req.headers['content-length']) > max) return tooLarge()
  // Authenticate before reading the body, so anonymous callers cannot make the server buffer it.
  const auth = await core.authenticate(req)
  if (!auth.ok) return authFailed(auth, allow)
  const text = await body(max)
  if (text === undefined) return fail(400, 'bad_frame', 'the request body was cut off', allow) // the client went away: nobody reads this
  if (text === null) return tooLarge()
  try {
    return await postFrames(core, sid, text, auth.user, allow)
  } catch (err) {
    if (!(err instanceof BrokerError)) throw err
    // The shared broker did not answer, or the session kept moving: retryable, the frames unacked
    // (the client sends them again). A shutdown of this process is not an outage: not reported then.
    if (!core.draining) core.reportError(err)
    return fail(503, 'server_error', `${err.code}: ${err.message}`, { ...allow, 'Retry-After': '1' })
  }
}

async function postFrames(core: ServerCore, sid: string, text: string, user: unknown, allow: Record<string, string>): Promise<CoreReply> {
  const session = await core.sessions.find(sid)
  if (!session) return fail(404, 'session_unknown', 'no such session; reconnect to get a new one', allow)
  if (core.options.identify(session.user) !== core.options.identify(user)) {
    return fail(403, 'forbidden', 'this session belongs to another identity', allow)
  }
  let frames
  try {
    frames = parseClientBatch(text)
  } catch (err) {
    return fail(400, 'bad_frame', (err as FrameError).message, allow)
  }
  const replies: ServerFrame[] = []
  await session.process(frames, (f) => replies.push(f))
  return json(200, replies, allow)
}
