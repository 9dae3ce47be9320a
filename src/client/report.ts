import { FrameError, errorText, type SurewireError } from '../errors'
import type { ServerFrame } from '../protocol'
import type { TransportClose, TransportHandlers } from './transport'

/**
 * How a transport talks to the state machine: nothing after the end (a `close()` call or the
 * one reported close), and nothing thrown back into the runtime's dispatch (`ws`'s socket
 * handler, a fetch reader): whatever a server sends, handling it can fail only into `error`.
 * A base class, so a transport object is its own reporter (one object per connection).
 */
export class Reporter {
  done = false
  readonly #h: TransportHandlers
  constructor(h: TransportHandlers) {
    this.#h = h
  }

  reportOpen(): void {
    if (this.done) return
    try {
      this.#h.onOpen()
    } catch (err) {
      this.#failed(err)
    }
  }

  frame(f: ServerFrame, viaPost?: boolean): void {
    if (this.done) return
    try {
      this.#h.onFrame(f, viaPost)
    } catch (err) {
      this.#failed(err, f.t)
    }
  }

  /** A decoded frame or the reason it is not one. */
  decoded(f: ServerFrame | FrameError, viaPost?: boolean): void {
    if (f instanceof FrameError) this.bad(f)
    else this.frame(f, viaPost)
  }

  bad(err: FrameError | string): void {
    if (this.done) return
    try {
      this.#h.onBadFrame(typeof err === 'string' ? new FrameError(err, '') : err)
    } catch {
      /* the state machine could not even report it: nothing more to do */
    }
  }

  unsendable(seq: number, err: SurewireError): void {
    if (this.done) return
    try {
      this.#h.onUnsendable(seq, err)
    } catch (e) {
      this.#failed(e)
    }
  }

  /**
   * Report the frames a codec answered itself (a local pong, a nack, an ack once written) from a
   * microtask: after send() returns, never from inside it (the state machine arms its pong timer
   * after sending a ping). Dropped once the transport ended meanwhile.
   */
  replies(frames: ServerFrame[] | undefined): void {
    if (frames) queueMicrotask(() => frames.forEach((f) => this.frame(f)))
  }

  /** `close()` was called: report nothing more. */
  end(): void {
    this.done = true
  }

  /** Report how the transport ended (once). */
  finish(info: TransportClose): void {
    if (this.done) return
    this.done = true
    try {
      this.#h.onClose(info)
    } catch {
      /* see bad() */
    }
  }

  /** Handling `what` (a frame type, else an event) threw: report it as a bad frame, never into the runtime's dispatch. */
  #failed(err: unknown, what?: string): void {
    this.bad(`the client failed handling ${what ? `a \`${what}\` frame` : 'an event'}: ${errorText(err)}`)
  }
}
