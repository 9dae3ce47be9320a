import { CloseCode } from '../../protocol'
import type { Session } from '../session'
import type { Sink } from '../sink'
import { CLOSE_GRACE_MS, type LiveConnection, type ServerCore } from './core'
import { Outbox, type FramePipe } from './outbox'
import type { OpenRequest } from './registry'
import { errorFrame } from './replies'

/** The byte stream under one SSE response, as an adapter provides it (node `res`, Fetch ReadableStream). */
export interface StreamPipe {
  write(chunk: string): void
  /** Bytes written and not yet taken by the network. */
  buffered(): number
  /** Call `cb` once when the stream can take more. */
  onDrain(cb: () => void): void
  /** End after what was written. */
  end(): void
  /** Cut at once. */
  destroy(): void
}

export const SSE_HEADERS: Record<string, string> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
}

const HEARTBEAT = '{"t":"hb"}'
const event = (text: string, id: number) => (id === 0 ? `data: ${text}\n\n` : `id: ${id}\ndata: ${text}\n\n`)

/** The SSE events of frames `from…to` as one chunk. */
function events(texts: readonly string[], ids: readonly number[], from: number, to: number): string {
  let chunk = ''
  for (let i = from; i < to; i++) chunk += event(texts[i]!, ids[i]!)
  return chunk
}

/**
 * One SSE stream attached to a session: framing, per-tick batching, backpressure, heartbeats.
 * The adapter calls `gone()` once when the stream is over (client left, ended, destroyed).
 * It is its own session sink, outbox pipe and live connection: their methods live on the
 * prototype, so an open stream holds no closure of its own (memory per connection).
 */
export class SseStream implements Sink, FramePipe, LiveConnection {
  readonly #outbox: Outbox
  #session: Session | undefined
  #gone = false
  #ended = false
  #grace: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly core: ServerCore,
    private readonly pipe: StreamPipe,
  ) {
    this.#outbox = new Outbox(this, core.options.maxBufferedBytes) // overflow() is a method below
  }

  // Sink (the session's side)

  get kind(): 'sse' {
    return 'sse'
  }
  /** See {@link Sink.notices}; an own property only when the client asked (memory per connection). */
  declare notices?: boolean

  write(text: string, id?: number): void {
    void this.#outbox.write(text, id)
  }

  close(code: number): void {
    this.#end(code === CloseCode.replaced)
  }

  bufferedBytes(): number {
    return this.#outbox.bufferedBytes()
  }

  // FramePipe (the outbox's side)

  writeFrames(texts: readonly string[], ids: readonly number[], from: number, to: number): void {
    this.pipe.write(events(texts, ids, from, to))
  }

  buffered(): number {
    return this.pipe.buffered()
  }

  onDrain(cb: () => void): void {
    this.pipe.onDrain(cb)
  }

  overflow(): void {
    this.#slow()
  }

  /** The sweep: a heartbeat when nothing else is queued. */
  beat(): void {
    if (this.#outbox.idle) this.#outbox.write(HEARTBEAT)
  }

  /** Attach to the session (hello + replay); resolves once attached. */
  async open(req: OpenRequest, notices = false): Promise<void> {
    if (notices) this.notices = true
    this.core.live.add(this)
    const session = await this.core.sessions.open(this, req)
    this.#session = session
    this.#outbox.live = true
    if (this.#gone) this.core.sessions.detach(session, this)
  }

  /** The stream is over: detach once, which starts the session's resume window. */
  gone(): void {
    if (this.#gone) return
    this.#gone = true
    this.#ended = true
    clearTimeout(this.#grace)
    this.core.live.delete(this)
    this.#outbox.close()
    if (this.#session) this.core.sessions.detach(this.#session, this)
  }

  /**
   * End the stream. Session over: what is queued goes out first. Replaced: the queue is dropped
   * (the newer connection replays it). Either way the response ends cleanly (the client reads the
   * end as `server_closed`) and is destroyed CLOSE_GRACE_MS later if the client has not finished
   * reading: a replaced or ended stream never holds memory for longer.
   */
  #end(replaced: boolean): void {
    if (this.#ended) return
    this.#ended = true
    this.core.live.delete(this)
    if (replaced) this.#outbox.close()
    this.#grace = setTimeout(() => this.pipe.destroy(), CLOSE_GRACE_MS)
    ;(this.#grace as { unref?: () => void }).unref?.()
    if (this.#outbox.closed) this.pipe.end()
    else this.#outbox.finish(() => this.pipe.end())
  }

  /** The session could not be opened (the shared broker did not answer): an error event saying why, then the end (the client retries). */
  refuse(message: string): void {
    this.pipe.write(event(JSON.stringify(errorFrame('server_error', message)), 0))
    this.#end(false)
  }

  /** Over maxBufferedBytes: say why (the frame waits behind the backlog), end, destroy after the grace period. */
  #slow(): void {
    const f = errorFrame('slow_consumer', `more than maxBufferedBytes=${this.core.options.maxBufferedBytes} bytes queued for this stream; reconnect to resume`)
    this.pipe.write(event(JSON.stringify(f), 0))
    this.#end(false) // the outbox is already closed: the stream ends now
    if (this.#session) this.core.sessions.detach(this.#session, this)
  }
}
