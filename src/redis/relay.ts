/**
 * The home side of forwarding (see gateway.ts for the other side): a transport on another process
 * attached to a session homed here is a *remote sink*, whose writes are PUBLISHed to that
 * process's channel in order; its WebSocket frames and forwarded POSTs are handled here.
 */
import { CloseCode, type ServerFrame, type TransportKind } from '../protocol'
import { DRAIN_CLOSE } from '../server/core/drain'
import type { Session } from '../server/session'
import type { Sink } from '../server/sink'
import type { GatewayMessage } from './gateway'
import type { HomeMessage, RedisSessions } from './sessions'

/** A transport on another process (the gateway), as the home's session sees it: writes are PUBLISHed there in order. */
class RemoteSink implements Sink {
  constructor(
    private readonly relay: HomeRelay,
    readonly gw: string,
    readonly sk: string,
    readonly kind: TransportKind,
  ) {}
  notices?: boolean
  write(text: string, id?: number): void {
    this.relay.toGateway(this, { k: 'w', sk: this.sk, t: text, ...(id === undefined ? {} : { id }) })
  }
  close(code: number, reason: string): void {
    this.relay.closeRemote(this, code, reason)
  }
  bufferedBytes(): number {
    return 0 // the gateway's own transport applies maxBufferedBytes
  }
}

export class HomeRelay {
  readonly #remote = new Map<string, { sink: RemoteSink; session: Session }>()

  constructor(private readonly layer: RedisSessions) {}

  /** A home's write to a transport on a gateway. A gateway that is gone (or unreachable) detaches it. */
  toGateway(sink: RemoteSink, message: GatewayMessage): void {
    this.layer.publish(sink.gw, message).then(
      (n) => n === 0 && this.#gone(sink),
      () => this.#gone(sink),
    )
  }

  closeRemote(sink: RemoteSink, code: number, reason: string): void {
    if (this.#remote.get(sink.sk)?.sink !== sink) return
    this.#remote.delete(sink.sk)
    this.layer.publish(sink.gw, { k: 'c', sk: sink.sk, code, reason }).catch(() => {})
  }

  #gone(sink: RemoteSink): void {
    const e = this.#remote.get(sink.sk)
    if (e?.sink !== sink) return
    this.#remote.delete(sink.sk)
    e.session.detach(sink, this.layer.host.options.sessionTtlMs)
  }

  attach(m: Extract<HomeMessage, { k: 'att' }>): void {
    const session = this.layer.host.sessions.get(m.sid)
    const refuse = () => void this.layer.publish(m.gw, { k: 'r', rid: m.rid, ok: false }).catch(() => {})
    if (!session || session.ended || !this.layer.homes(session)) return refuse()
    // Draining: the client reconnected on its own before its turn; hand its session over now (the gateway then adopts it).
    if (this.layer.isDraining) return void this.layer.handOver(session, DRAIN_CLOSE.code, DRAIN_CLOSE.reason).then(refuse, refuse)
    const sink = new RemoteSink(this, m.gw, m.sk, m.kind)
    if (m.n) sink.notices = true // the client reads `notice` frames
    this.#remote.set(m.sk, { sink, session })
    session.attach(sink, this.layer.host.hello(), m.last ?? 0) // hello + replay are published before the answer below
    this.layer.attached(session, sink) // and, while it is degraded, that it is
    this.layer.publish(m.gw, { k: 'r', rid: m.rid, ok: true }).catch(() => {})
  }

  frames(m: Extract<HomeMessage, { k: 'fr' }>): void {
    const e = this.#remote.get(m.sk)
    if (!e || e.session.ended) return void this.layer.publish(m.gw, { k: 'c', sk: m.sk, code: CloseCode.goingAway, reason: 'the session is not here any more' }).catch(() => {})
    const { session, sink } = e
    session.process(m.f, (f) => (session.sink === sink ? sink.write(JSON.stringify(f)) : undefined), sink)?.catch((err: unknown) => this.layer.report(err))
  }

  async post(m: Extract<HomeMessage, { k: 'post' }>): Promise<void> {
    const session = this.layer.host.sessions.get(m.sid)
    if (!session || session.ended || !this.layer.homes(session)) return void (await this.layer.publish(m.gw, { k: 'r', rid: m.rid, ok: false }))
    const replies: ServerFrame[] = []
    await session.process(m.f, (f) => replies.push(f))
    await this.layer.publish(m.gw, { k: 'r', rid: m.rid, ok: true, f: replies })
  }

  /** The gateway's transport ended: the session starts its resume window. */
  detached(sk: string): void {
    const e = this.#remote.get(sk)
    if (!e) return
    this.#remote.delete(sk)
    e.session.detach(e.sink, this.layer.host.options.sessionTtlMs)
  }

  /** Close every transport relayed to another process from a session homed here (its gateway closes it; the client resumes). */
  closeAll(code: number, reason: string): void {
    for (const e of [...this.#remote.values()]) {
      this.closeRemote(e.sink, code, reason)
      e.session.detach(e.sink, this.layer.host.options.sessionTtlMs) // its resume window starts, as for any ended transport
    }
  }

  /** The processes whose transports are attached here. */
  gateways(): Set<string> {
    return new Set([...this.#remote.values()].map((e) => e.sink.gw))
  }

  gatewaysGone(dead: ReadonlySet<string>): void {
    for (const e of [...this.#remote.values()]) if (dead.has(e.sink.gw)) this.#gone(e.sink)
  }
}
