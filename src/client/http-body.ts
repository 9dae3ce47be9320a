import { FrameError } from '../errors'
import { toServerFrame, type ErrorCode } from '../protocol'

/** What a server said in a protocol error body (`[{"t":"error","code":…,"message":…}]`). */
export interface ServerReason {
  serverCode?: ErrorCode
  serverMessage?: string
  /** The server marked its error fatal (`"fatal": true`). */
  fatal?: boolean
}

/** Largest error body read from a refused request; the rest is discarded. */
const ERROR_BODY_BYTES = 4096

/** Read at most `max` bytes of a response body as text, then cancel the rest. Never throws. */
export async function readBounded(res: Response, max = ERROR_BODY_BYTES): Promise<string> {
  const body = res.body
  if (!body) return ''
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  let room = max
  try {
    while (room > 0) {
      const { value, done } = await reader.read()
      if (done) break
      const take = value.byteLength > room ? value.subarray(0, room) : value
      room -= take.byteLength
      text += decoder.decode(take, { stream: true })
    }
  } catch {
    /* a broken body says nothing more */
  } finally {
    reader.cancel().catch(() => {})
  }
  return text
}

/** The code and message of a protocol error array (`[{"t":"error",…}]`), when `text` is one; checked like any server frame. */
export function parseErrorBody(text: string): ServerReason {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return {}
  }
  const f = toServerFrame(Array.isArray(v) ? v[0] : v)
  if (f instanceof FrameError || f.t !== 'error') return {}
  return { serverCode: f.code, serverMessage: f.message.slice(0, 500), ...(f.fatal ? { fatal: true } : {}) }
}
