import { FrameError } from '../errors'
import { toServerFrame, type ErrorCode } from '../protocol'

/** What a server said in a protocol error body (`[{"t":"error","code":…,"message":…}]`). */
export interface ServerReason {
  serverCode?: ErrorCode
  serverMessage?: string
  /** The server marked its error fatal (`"fatal": true`). */
  fatal?: boolean
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
