/**
 * Serve a Fetch-API handler from a Node http server, the way Next.js, Hono's node adapter
 * and others do: IncomingMessage → Request (streamed body, abort on disconnect), Response →
 * ServerResponse (streamed body, cancelled when the client goes away).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'

export interface FetchServer {
  http: Server
  port: number
  url: string
  close(): Promise<void>
}

export function toRequest(req: IncomingMessage, res: ServerResponse): Request {
  const abort = new AbortController()
  res.on('close', () => abort.abort())
  const headers = new Headers()
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v === 'string') headers.set(k, v)
    else if (Array.isArray(v)) for (const x of v) headers.append(k, x)
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  return new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`, {
    method: req.method,
    headers,
    signal: abort.signal,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream, duplex: 'half' } : {}),
  } as RequestInit)
}

export async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  const headers: Record<string, string> = {}
  response.headers.forEach((v, k) => (headers[k] = v))
  res.writeHead(response.status, headers)
  if (!response.body) {
    res.end()
    return
  }
  res.flushHeaders()
  const reader = response.body.getReader()
  res.on('close', () => void reader.cancel().catch(() => {}))
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      res.write(value)
    }
  } catch {
    /* cancelled */
  }
  res.end()
}

/** A Node http server on 127.0.0.1:0 that sends `path` to `handler` and 404s the rest. */
export async function serveFetch(handler: (request: Request) => Promise<Response>, path = '/realtime'): Promise<FetchServer> {
  const http = createServer((req, res) => {
    if ((req.url ?? '/').split('?')[0] !== path) {
      res.writeHead(404).end()
      return
    }
    handler(toRequest(req, res))
      .then((response) => writeResponse(response, res))
      .catch(() => {
        if (!res.headersSent) res.writeHead(500)
        res.end()
      })
  })
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
  const port = (http.address() as AddressInfo).port
  return {
    http,
    port,
    url: `http://127.0.0.1:${port}${path}`,
    async close() {
      http.closeAllConnections()
      await new Promise<void>((r) => http.close(() => r()))
    },
  }
}
