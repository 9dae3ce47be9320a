import type { ErrorCode } from '../protocol'

/** What a server said in a protocol error body (`[{"t":"error","code":…,"message":…}]`). */
export interface ServerReason {
  serverCode?: ErrorCode
  serverMessage?: string
  /** The server marked its error fatal (`"fatal": true`). */
  fatal?: boolean
}

/** Largest error body read from a refused request; the rest is discarded. */
export const ERROR_BODY_BYTES = 4096

/** Read at most `max` bytes of a response body as text, then cancel the rest. Never throws. */
export async function readBounded(res: Response, max = ERROR_BODY_BYTES): Promise<string> {
  const body = res.body
  if (!body) return ''
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  let bytes = 0
  try {
    while (bytes < max) {
      const { value, done } = await reader.read()
      if (done) break
      bytes += value.byteLength
      text += decoder.decode(value.byteLength + bytes > max ? value.subarray(0, Math.max(0, max - (bytes - value.byteLength))) : value, { stream: true })
    }
  } catch {
    /* a broken body says nothing more */
  } finally {
    reader.cancel().catch(() => {})
  }
  return text
}

/** The code and message of a protocol error array, when `text` is one; every field type-checked. */
export function parseErrorBody(text: string): ServerReason {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return {}
  }
  const f = Array.isArray(v) ? v[0] : v
  if (typeof f !== 'object' || f === null || (f as { t?: unknown }).t !== 'error') return {}
  const { code, message, fatal } = f as { code?: unknown; message?: unknown; fatal?: unknown }
  if (typeof code !== 'string') return {}
  return {
    serverCode: code as ErrorCode,
    ...(typeof message === 'string' ? { serverMessage: message.slice(0, 500) } : {}),
    ...(fatal === true ? { fatal } : {}),
  }
}
