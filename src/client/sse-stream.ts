import { createParser } from 'eventsource-parser'
import { errorText } from '../errors'
import { FrameError } from '../protocol'
import { parseErrorBody, readBounded } from './http-body'
import type { TransportClose } from './transport'

/** What the SSE transports (surewire's and compat mode's) do with one event stream. */
export interface EventStreamHandlers {
  /** True once the transport is closed: no more callbacks, the read loop stops. */
  isDone(): boolean
  /** 200 text/event-stream: the stream is open (called once, before any event). */
  onOpen(): void
  /** One event's data. */
  onEvent(data: string): void
  /** A `:` comment line (servers' keepalives). */
  onComment?(): void
  /** A line the parser could not take. */
  onBadFrame(err: FrameError): void
  /** The request failed, the answer was not an event stream, or the stream ended or failed. */
  finish(info: Omit<TransportClose, 'opened'>): void
  /** Appended to the detail when the answer is not an event stream (e.g. the Server header). */
  refusalHint?(res: Response): string
}

/**
 * Make the SSE request and read the stream through eventsource-parser until it ends.
 * `pathname` names the endpoint in the detail of a refused request.
 */
export async function readEventStream(request: () => Promise<Response>, pathname: string, h: EventStreamHandlers): Promise<void> {
  let res: Response
  try {
    res = await request()
  } catch (err) {
    return h.finish({ cause: 'network', detail: `SSE request failed: ${errorText(err)}` })
  }
  const type = res.headers.get('content-type') ?? ''
  if (res.status !== 200 || !type.startsWith('text/event-stream') || !res.body) {
    const reason = type.includes('json') ? parseErrorBody(await readBounded(res)) : (void res.body?.cancel().catch(() => {}), {})
    const detail = `SSE endpoint ${pathname} answered ${res.status} ${type || '(no content-type)'}${h.refusalHint?.(res) ?? ''}`
    return h.finish({ cause: 'refused', status: res.status, ...reason, detail })
  }
  if (h.isDone()) return
  h.onOpen()
  const parser = createParser({
    onEvent(ev) {
      if (!h.isDone()) h.onEvent(ev.data)
    },
    onComment: h.onComment && (() => h.isDone() || h.onComment!()),
    onError(err) {
      h.onBadFrame(new FrameError(`bad SSE line: ${err.message}`, ''))
    },
  })
  const reader = res.body.getReader()
  const decoder = new TextDecoder()
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (h.isDone()) return
      if (done) return h.finish({ cause: 'closed', detail: 'SSE stream ended' })
      parser.feed(decoder.decode(value, { stream: true }))
    }
  } catch (err) {
    h.finish({ cause: 'network', detail: `SSE stream failed: ${errorText(err)}` })
  }
}
