import { errorText } from '../errors'
import { parseErrorBody, readBounded } from './http-body'
import { SseParser } from './sse-parser'
import type { TransportClose } from './transport'

/** What the SSE transport does with one event stream. */
export interface EventStreamHandlers {
  /** True once the transport is closed: no more callbacks, the read loop stops. */
  isDone(): boolean
  /** 200 text/event-stream: the stream is open (called once, before any event). */
  onOpen(): void
  /** One event's data. */
  onEvent(data: string): void
  /** A `:` comment line (servers' keepalives). */
  onComment?(): void
  /** A line the parser could not take; the stream goes on. */
  onBadLine(why: string): void
  /** The request failed, the answer was not an event stream, or the stream ended or failed. */
  finish(info: Omit<TransportClose, 'opened'>): void
  /** Appended to the detail when the answer is not an event stream (e.g. the Server header). */
  refusalHint?(res: Response): string
}

/**
 * Make the SSE request and read the stream until it ends. `pathname` names the endpoint in the
 * detail of a refused request. `maxEventChars` bounds one line / one event's data (see SseParser):
 * a stream past it fails with cause `protocol` rather than growing the client's memory.
 */
export async function readEventStream(
  request: () => Promise<Response>,
  pathname: string,
  maxEventChars: () => number,
  h: EventStreamHandlers,
): Promise<void> {
  let res: Response
  try {
    res = await request()
  } catch (err) {
    return h.finish({ cause: 'network', detail: `SSE request failed: ${errorText(err)}` })
  }
  const type = res.headers.get('content-type') ?? ''
  if (res.status !== 200 || !type.startsWith('text/event-stream') || !res.body) {
    const reason = type.includes('json') ? parseErrorBody(await readBounded(res)) : (res.body?.cancel().catch(() => {}), {})
    const detail = `SSE endpoint ${pathname} answered ${res.status} ${type || '(no content-type)'}${h.refusalHint?.(res) ?? ''}`
    return h.finish({ cause: 'refused', status: res.status, ...reason, detail })
  }
  if (h.isDone()) return void res.body.cancel().catch(() => {})
  h.onOpen()
  const reader = res.body.getReader()
  let overflow: number | undefined
  const parser = new SseParser(
    {
      onEvent: (data) => h.isDone() || h.onEvent(data),
      onComment: h.onComment && (() => h.isDone() || h.onComment!()),
      onBadLine: (why) => h.isDone() || h.onBadLine(`bad SSE line: ${why}`),
      onOverflow: (chars) => (overflow = chars),
    },
    maxEventChars,
  )
  const decoder = new TextDecoder()
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (h.isDone()) return void reader.cancel().catch(() => {})
      if (done) return h.finish({ cause: 'closed', detail: 'SSE stream ended' })
      parser.feed(decoder.decode(value, { stream: true }))
      if (overflow !== undefined) {
        reader.cancel().catch(() => {})
        return h.finish({
          cause: 'protocol',
          detail: `the SSE stream sent ${overflow} characters without finishing a line or an event; the client's bound is ${maxEventChars()}${(typeof process !== 'undefined' && process.env.NODE_ENV !== 'production') ? " (4 × the server's maxFrameBytes)" : ''}`,
        })
      }
    }
  } catch (err) {
    if (!h.isDone()) h.finish({ cause: 'network', detail: `SSE stream failed: ${errorText(err)}` })
  }
}
