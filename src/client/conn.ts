import type { FrameError, SurewireError } from '../errors'
import type { ServerFrame } from '../protocol'
import type { Transport, TransportClose, TransportHandlers, TransportKind } from './transport'
import type { FrameLimit } from './websocket'

/** A connection's place in the state machine: racing in an attempt, the one in use, or the background probe back to WebSocket. */
export type Role = 'candidate' | 'active' | 'probe'

/**
 * What a connection reports to the state machine that owns it (`o`). One object for every client
 * (client.ts), never closures per connection: an idle client holds one Conn, and what it holds adds
 * up over many clients (bench section 5).
 */
export interface ConnEvents<O> {
  open(o: O, c: Conn<O>): void
  frame(o: O, c: Conn<O>, f: ServerFrame, viaPost: boolean | undefined): void
  bad(o: O, c: Conn<O>, error: FrameError): void
  unsendable(o: O, c: Conn<O>, seq: number, error: SurewireError): void
  close(o: O, c: Conn<O>, info: TransportClose): void
  /** The server's frame limit from the last hello (Infinity before one arrived). */
  limit(o: O): number
}

/** One transport and its place in the state machine; also the handlers its transport reports to. */
export class Conn<O> implements TransportHandlers, FrameLimit {
  opened = false
  /** Set right after construction (the transport needs these handlers to exist first). */
  t: Transport = closedTransport
  readonly o: O
  readonly ev: ConnEvents<O>
  readonly kind: TransportKind
  role: Role
  constructor(o: O, ev: ConnEvents<O>, kind: TransportKind, role: Role) {
    this.o = o
    this.ev = ev
    this.kind = kind
    this.role = role
  }
  maxFrameBytes(): number {
    return this.ev.limit(this.o)
  }
  onOpen(): void {
    this.opened = true
    this.ev.open(this.o, this)
  }
  onFrame(f: ServerFrame, viaPost?: boolean): void {
    this.ev.frame(this.o, this, f, viaPost)
  }
  onBadFrame(error: FrameError): void {
    this.ev.bad(this.o, this, error)
  }
  onUnsendable(seq: number, error: SurewireError): void {
    this.ev.unsendable(this.o, this, seq, error)
  }
  onClose(info: TransportClose): void {
    this.ev.close(this.o, this, info)
  }
}

/** A transport that is not (or no longer) there: sends nothing. */
export const closedTransport: Transport = { kind: 'websocket', send() {}, close() {} }
