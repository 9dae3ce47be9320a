/** Small helpers every probe uses: timing, the Server header, a capped response body. */
import type http from 'node:http'

export const now = (): number => performance.now()
export const round = (ms: number): number => Math.round(ms)

/** Bodies are read up to this many characters: enough to recognise an error page. */
const BODY_CAP = 4096

export function describeServer(h: http.IncomingHttpHeaders): string {
  return typeof h.server === 'string' ? ` (Server: ${h.server})` : ''
}

/** Append `res`'s body to `into.body` as text, up to the cap. */
export function captureBody(res: http.IncomingMessage, into: { body: string }): void {
  res.setEncoding('utf8')
  res.on('data', (c: string) => {
    if (into.body.length < BODY_CAP) into.body += c
  })
}

/** Run `fn` and time it; a rejection comes back as the Error, never thrown. */
export async function timed<T>(fn: () => Promise<T>): Promise<[T | Error, number]> {
  const t0 = now()
  try {
    return [await fn(), round(now() - t0)]
  } catch (err) {
    return [err instanceof Error ? err : new Error(String(err)), round(now() - t0)]
  }
}

/** What a server said in the protocol's own way: the first `error` frame of a JSON body or a WebSocket message. */
export interface ServerError {
  code: string
  message?: string
  fatal?: boolean
}

/** The protocol error in `body` (a JSON array of frames, or one frame), or undefined when it is not one. */
export function protocolError(body: string): ServerError | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return undefined
  }
  for (const f of Array.isArray(parsed) ? parsed : [parsed]) {
    if (f && typeof f === 'object' && (f as { t?: unknown }).t === 'error' && typeof (f as { code?: unknown }).code === 'string') {
      const { code, message, fatal } = f as { code: string; message?: unknown; fatal?: unknown }
      return { code, message: typeof message === 'string' ? message : undefined, fatal: fatal === true }
    }
  }
  return undefined
}
