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
  constructor(private readonly h: TransportHandlers) {}

  reportOpen(): void {
    if (!this.done) this.#call(() => this.h.onOpen())
  }

  frame(f: ServerFrame, viaPost?: boolean): void {
    if (!this.done) this.#call(() => this.h.onFrame(f, viaPost), f.t)
  }

  /** A decoded frame or the reason it is not one. */
  decoded(f: ServerFrame | FrameError, viaPost?: boolean): void {
    if (f instanceof FrameError) this.bad(f)
    else this.frame(f, viaPost)
  }

  bad(err: FrameError | string): void {
    if (this.done) return
    const e = typeof err === 'string' ? new FrameError(err, '') : err
    try {
      this.h.onBadFrame(e)
    } catch {
      /* the state machine could not even report it: nothing more to do */
    }
  }

  unsendable(seq: number, err: SurewireError): void {
    if (!this.done) this.#call(() => this.h.onUnsendable(seq, err))
  }

  /** Run `fn` from a microtask unless the transport ended meanwhile. */
  later(fn: () => void): void {
    queueMicrotask(() => this.done || fn())
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
      this.h.onClose(info)
    } catch {
      /* see #call */
    }
  }

  #call(fn: () => void, what?: string): void {
    try {
      fn()
    } catch (err) {
      this.bad(`the client failed handling ${what ? `a \`${what}\` frame` : 'an event'}: ${errorText(err)}`)
    }
  }
}
