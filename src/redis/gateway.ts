/**
 * The gateway side of the Redis session layer: a request that reaches a process which is not the
 * session's home is forwarded to the home over its pub/sub channel.
 *
 * - POST: an RPC (`post` → `r`): the home processes the frames and answers their replies.
 * - WebSocket / SSE attach: an RPC (`att` → `r`) that registers a *remote sink* on the home. The
 *   home's writes come back as `w` messages, in order, and are written to the local transport;
 *   `c` closes it; WebSocket frames go to the home as `fr`; the end of the transport is `det`.
 * - A PUBLISH that reaches 0 subscribers means the home is dead: the session is adopted here. A
 *   lost subscription (or a home found dead by the liveness check) closes the local transports:
 *   their clients resume, from their last id, and nothing is lost.
 */
import { CloseCode, type ClientFrame, type ServerFrame } from '../protocol'
import { BrokerError } from '../server/broker'
import { Session, type SessionHost } from '../server/session'
import type { Sink } from '../server/sink'
import type { SessionMeta } from './adopt'
import type { RedisSessions } from './sessions'

/** Messages to a gateway process. */
export type GatewayMessage =
  | { k: 'w'; sk: string; t: string; id?: number }
  | { k: 'c'; sk: string; code: number; reason: string }
  | { k: 'r'; rid: string; ok: boolean; f?: ServerFrame[] }

/** How many times routing looks again when the session moved while it was being routed. */
const MAX_ROUTES = 5

/**
 * A session homed on another process, as the edges of this one see it: `process()` runs on the
 * home. One per gateway transport (`sk` set) or per forwarded POST.
 */
class RemoteSession extends Session {
  constructor(
    private readonly gateway: Gateway,
    host: SessionHost,
    sid: string,
    user: unknown,
    readonly sk: string | undefined,
  ) {
    super(host, user, { sid, connId: '', lastSeq: 0, nextId: 1, forgottenNack: 0, nacks: [], topics: [], log: [] })
  }
  override process(frames: ClientFrame[], reply: (f: ServerFrame) => void, via?: Sink): Promise<void> {
    return this.gateway.forward(this, frames, reply, via)
  }
}

interface Relayed {
  sink: Sink
  sid: string
  home: string
}

export class Gateway {
  readonly #rpcs = new Map<string, { resolve: (m: Extract<GatewayMessage, { k: 'r' }>) => void; reject: (err: unknown) => void; timer: ReturnType<typeof setTimeout> }>()
  readonly #relayed = new Map<string, Relayed>()
  #n = 0

  constructor(private readonly layer: RedisSessions) {}

  #key(): string {
    return `${this.layer.id}.${++this.#n}`
  }

  /** A transport for a session not homed here: relay it from its home, or adopt the session. */
  async attach(sink: Sink, sid: string, last: number | undefined, user: unknown): Promise<Session | undefined> {
    const { host } = this.layer
    for (let i = 0; i < MAX_ROUTES; i++) {
      const meta = await this.layer.meta(sid)
      if (!meta || meta.ik !== host.options.identify(user)) return undefined // like an unknown session: a new one
      let dead = meta.released || meta.home === this.layer.id
      if (!dead) {
        const sk = this.#key()
        this.#relayed.set(sk, { sink, sid, home: meta.home })
        const r = await this.#rpc(meta.home, { k: 'att', sid, gw: this.layer.id, sk, kind: sink.kind, last: last ?? null, ...(sink.notices ? { n: 1 as const } : {}) })
        if (r === 'dead') dead = true
        else if (r.ok) return new RemoteSession(this, host.sessionHost, sid, user, sk)
        this.#relayed.delete(sk)
        if (!dead) continue // the home no longer has it (moved or released): look again
      }
      const s = await this.layer.adopt(sid, meta)
      if (s === 'moved') continue
      if (!s) return undefined
      s.attach(sink, host.hello(), last ?? 0)
      return s
    }
    throw new BrokerError('session_moved', `session kept moving between processes while attaching (${MAX_ROUTES} tries)`)
  }

  /** A POST for a session not homed here: a handle whose process() forwards to the home. */
  async find(sid: string): Promise<Session | undefined> {
    const meta = await this.layer.meta(sid)
    if (!meta) return undefined
    const user: unknown = JSON.parse(meta.u)
    return new RemoteSession(this, this.layer.host.sessionHost, sid, user, undefined)
  }

  forward(session: RemoteSession, frames: ClientFrame[], reply: (f: ServerFrame) => void, via?: Sink): Promise<void> {
    if (via && session.sk) return this.#relayFrames(session.sk, frames)
    return this.#post(session.sid, frames, reply)
  }

  async #relayFrames(sk: string, f: ClientFrame[]): Promise<void> {
    const r = this.#relayed.get(sk)
    if (!r) return
    const n = await this.layer.publish(r.home, { k: 'fr', sid: r.sid, gw: this.layer.id, sk, f }).catch(() => 0)
    if (n === 0) this.#closeRelayed(sk, CloseCode.goingAway, 'the session moved; resume') // the client resumes where the session now is
  }

  async #post(sid: string, frames: ClientFrame[], reply: (f: ServerFrame) => void): Promise<void> {
    const { host } = this.layer
    for (let i = 0; i < MAX_ROUTES; i++) {
      const local = host.sessions.get(sid)
      if (local) return local.process(frames, reply)
      const meta: SessionMeta | undefined = await this.layer.meta(sid)
      if (!meta) throw new BrokerError('session_moved', 'the session ended while its POST was being forwarded')
      if (!meta.released && meta.home !== this.layer.id) {
        const r = await this.#rpc(meta.home, { k: 'post', sid, gw: this.layer.id, f: frames })
        if (r !== 'dead') {
          if (r.ok) for (const f of r.f ?? []) reply(f)
          if (r.ok) return
          continue
        }
      }
      // A draining process takes no session over (it would have to move it again): 503, the client retries elsewhere.
      if (this.layer.isDraining) throw new BrokerError('session_moved', 'this process is draining and adopts no session; retry (another process adopts it)')
      const s = await this.layer.adopt(sid, meta)
      if (s === 'moved') continue
      if (!s) throw new BrokerError('session_moved', 'the session ended while its POST was being forwarded')
      return s.process(frames, reply)
    }
    throw new BrokerError('session_moved', `session kept moving between processes while its POST was forwarded (${MAX_ROUTES} tries)`)
  }

  /** Send a request to a home and wait for its answer; 'dead' when no process listens there. */
  async #rpc(home: string, message: { k: 'att' | 'post' } & Record<string, unknown>): Promise<Extract<GatewayMessage, { k: 'r' }> | 'dead'> {
    const rid = this.#key()
    const answer = new Promise<Extract<GatewayMessage, { k: 'r' }>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#rpcs.delete(rid)
        reject(new BrokerError('broker_unavailable', `the session's home process did not answer within forwardTimeoutMs=${this.layer.link.options.forwardTimeoutMs}`))
      }, this.layer.link.options.forwardTimeoutMs)
      this.#rpcs.set(rid, { resolve, reject, timer })
    })
    answer.catch(() => {})
    let n: number
    try {
      n = await this.layer.publish(home, { ...message, rid } as never)
    } catch (err) {
      this.#settle(rid)
      throw err
    }
    if (n === 0) {
      this.#settle(rid)
      return 'dead'
    }
    return answer
  }

  #settle(rid: string): { resolve: (m: Extract<GatewayMessage, { k: 'r' }>) => void; reject: (err: unknown) => void } | undefined {
    const p = this.#rpcs.get(rid)
    if (!p) return undefined
    clearTimeout(p.timer)
    this.#rpcs.delete(rid)
    return p
  }

  onMessage(m: GatewayMessage): void {
    if (m.k === 'r') return this.#settle(m.rid)?.resolve(m)
    if (m.k === 'w') return this.#relayed.get(m.sk)?.sink.write(m.t, m.id)
    this.#closeRelayed(m.sk, m.code, m.reason)
  }

  #closeRelayed(sk: string, code: number, reason: string): void {
    const r = this.#relayed.get(sk)
    if (!r) return
    this.#relayed.delete(sk)
    r.sink.close(code, reason)
  }

  /** A relayed transport ended here: tell the home. True when `session` was relayed. */
  detach(session: Session, sink: Sink): boolean {
    if (!(session instanceof RemoteSession)) return false
    const sk = session.sk
    const r = sk ? this.#relayed.get(sk) : undefined
    if (sk && r && r.sink === sink) {
      this.#relayed.delete(sk)
      this.layer.publish(r.home, { k: 'det', sid: r.sid, sk }).catch(() => {})
    }
    return true
  }

  /** The local transports relayed from other homes. */
  sinks(): Sink[] {
    return [...this.#relayed.values()].map((r) => r.sink)
  }

  /** The homes relayed transports depend on. */
  homes(): string[] {
    return [...new Set([...this.#relayed.values()].map((r) => r.home))]
  }

  homesGone(dead: ReadonlySet<string>): void {
    for (const [sk, r] of [...this.#relayed]) if (dead.has(r.home)) this.#closeRelayed(sk, CloseCode.goingAway, "the session's home process is gone; resume")
  }

  /** This process's subscription dropped: relayed writes may have been missed, so every relayed transport closes (its client resumes). */
  lostSubscription(): void {
    this.closeAll(CloseCode.goingAway, 'lost the broker subscription; resume')
  }

  closeAll(code: number, reason: string): void {
    for (const sk of [...this.#relayed.keys()]) this.#closeRelayed(sk, code, reason)
  }

  close(): void {
    for (const rid of [...this.#rpcs.keys()]) this.#settle(rid)?.reject(new BrokerError('broker_unavailable', 'the server is closing'))
  }
}
