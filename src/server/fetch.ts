/**
 * The Fetch adapter: `(Request) => Promise<Response>` over the same core as node:http. It uses
 * only Web APIs (no node: module, no `ws`), so it runs on Bun.serve, Deno.serve, Next.js route
 * handlers, Hono, workers.
 */
import { coreOf } from './core/core'
import { decodeBody, handleHttp, type BodyReader } from './core/http'
import type { StreamPipe } from './core/sse'
import { PUMP_HIGH_WATER } from './core/outbox'
import type { StandardSchemaV1 } from '../schema'
import type { RealtimeServer } from './realtime'
import { headerRecord, type RealtimeRequest } from './request'

/** A Fetch-API request handler: `(request) => Promise<Response>`. */
export type FetchHandler = (request: Request) => Promise<Response>

/**
 * SSE + POST for the realtime path as a Fetch-API handler, for runtimes where no WebSocket
 * upgrade is possible: Next.js route handlers, Hono, Bun.serve, Deno.serve.
 *
 * It serves the same sessions as `realtime.attach(httpServer)`: in one process, a client can
 * hold its WebSocket on the Node server and fall back to SSE through this handler without
 * losing its session. The handler does not look at the path; mount it where the client's
 * `url` (or `paths.sse` / `paths.post`) points. A WebSocket handshake gets 426
 * `websocket_unsupported`, so clients fall back at once.
 *
 * `authenticate(req)` receives a {@link RealtimeRequest} (`adapter: 'fetch'`, `raw` is the
 * `Request`).
 *
 * ```ts
 * // app/realtime/route.ts (Next.js)
 * const handler = createFetchHandler(realtime)
 * export { handler as GET, handler as POST, handler as OPTIONS }
 * ```
 */
export function createFetchHandler<In extends StandardSchemaV1, Out extends StandardSchemaV1>(realtime: RealtimeServer<In, Out>): FetchHandler {
  const core = coreOf(realtime)
  return async (request) => {
    const req = fetchRequest(request)
    const body: BodyReader = (max) => readBody(request, max)
    const answer = await handleHttp(core, req, body, { canUpgrade: false })
    if (answer.kind === 'reply') return new Response(answer.body, { status: answer.status, headers: answer.headers })
    if (request.signal.aborted) return new Response(null, { status: 499 })
    const encoder = new TextEncoder()
    let controller!: ReadableStreamDefaultController<Uint8Array>
    let drain: (() => void) | undefined
    let open = true
    const pipe: StreamPipe = {
      write: (chunk) => {
        if (open) controller.enqueue(encoder.encode(chunk))
      },
      buffered: () => (open ? Math.max(0, PUMP_HIGH_WATER - (controller.desiredSize ?? 0)) : 0),
      onDrain: (cb) => (drain = cb),
      end: () => {
        if (!open) return
        open = false
        controller.close()
        stream.gone()
      },
      destroy: () => {
        if (!open) return
        open = false
        controller.error(new Error('stream closed by the server'))
        stream.gone()
      },
    }
    let stream!: ReturnType<typeof answer.start>
    const bodyStream = new ReadableStream<Uint8Array>(
      {
        start(c) {
          controller = c
          stream = answer.start(pipe)
        },
        pull() {
          const cb = drain
          drain = undefined
          cb?.()
        },
        cancel() {
          open = false
          stream.gone()
        },
      },
      { highWaterMark: PUMP_HIGH_WATER, size: (chunk) => chunk.byteLength },
    )
    request.signal.addEventListener(
      'abort',
      () => {
        open = false
        stream.gone()
      },
      { once: true },
    )
    return new Response(bodyStream, { status: 200, headers: answer.headers })
  }
}

function fetchRequest(request: Request): RealtimeRequest {
  const u = new URL(request.url)
  const pairs: [string, string][] = []
  request.headers.forEach((v, k) => pairs.push([k, v]))
  const headers = headerRecord(pairs)
  headers.host ??= u.host
  return { method: request.method, url: u.pathname + u.search, headers, remoteAddress: undefined, adapter: 'fetch', raw: request }
}

/** The body as text, null once it grows past `max` bytes (reading stops there), undefined when it failed. */
async function readBody(request: Request, max: number): Promise<string | null | undefined> {
  if (!request.body) return ''
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
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
  } catch {
    return undefined
  }
  return decodeBody(chunks, size)
}
