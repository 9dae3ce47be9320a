import { DEFAULT_HEARTBEAT_MS } from '../protocol'
import type { LifecycleSource } from './options'
import { now, timerMs } from './time'
import type { Transport, TransportKind } from './transport'

type Timer = ReturnType<typeof setTimeout>

export interface KeepaliveOptions {
  pingIntervalMs: number
  pongTimeoutMs: number
  sseSilenceTimeoutMs?: number
}

/**
 * Liveness of the active connection. WebSocket: ping every interval; no frame back
 * within `pongTimeoutMs` means half-open. SSE: the server sends heartbeats; silence
 * beyond the timeout means a dead stream. It only reports; the state machine decides.
 * Times are read from the monotonic clock (a wall clock set back would delay the verdict), and
 * every delay is clamped (`hb` comes from the server: 2^31 would make `setTimeout` fire every ms).
 */
export class Keepalive {
  /** The ping timer (WebSocket) or the silence watchdog (SSE): one transport kind at a time. */
  #timer: Timer | undefined
  #pong: Timer | undefined
  /** On WebSocket (pings, pongs), else SSE (heartbeats). */
  #ws = true
  #hb = DEFAULT_HEARTBEAT_MS
  #transport: Pick<Transport, 'send'> | undefined
  /** Says whether the page is hidden (timers throttled). */
  #lifecycle: LifecycleSource | null = null
  /** When the SSE stream last delivered a frame (the silence watchdog compares against it). */
  #lastFrameAt = 0
  readonly #o: KeepaliveOptions
  readonly #onDead: (this: unknown, reason: 'pong_timeout' | 'sse_silent', detail: string) => void
  readonly #owner: unknown

  constructor(
    o: KeepaliveOptions,
    onDead: (this: unknown, reason: 'pong_timeout' | 'sse_silent', detail: string) => void,
    /** `this` of `onDead`: the client passes one function for every client and itself here (a closure less per client). */
    owner?: unknown,
  ) {
    this.#o = o
    this.#onDead = onDead
    this.#owner = owner
  }

  /** Start watching a newly active connection; pings go out on `transport`. */
  start(kind: TransportKind, hb: number, transport: Pick<Transport, 'send'>, lifecycle: LifecycleSource | null = null): void {
    this.stop()
    this.#ws = kind === 'websocket'
    this.#hb = hb
    this.#transport = transport
    this.#lifecycle = lifecycle
    if (!this.#ws) return this.alive()
    if (this.#o.pingIntervalMs <= 0) return // pinging turned off
    const every = timerMs(Math.max(10, Math.min(this.#o.pingIntervalMs, hb)))
    this.#timer = setTimeout(Keepalive.#beat, every, this, every)
  }

  /** The ping timer's callback: one function for every keepalive, its state passed as arguments (no closure per connection). */
  static #beat(k: Keepalive, every: number): void {
    k.ping()
    k.#timer = setTimeout(Keepalive.#beat, every, k, every)
  }

  /** Ping now (WebSocket) and expect a frame back within `pongTimeoutMs`. */
  ping(): void {
    if (!this.#ws) return
    this.#transport?.send([{ t: 'ping' }])
    if (this.#pong !== undefined) return
    const ms = timerMs(this.#o.pongTimeoutMs)
    const due = now() + ms
    this.#pong = setTimeout(() => {
      this.#pong = undefined
      // Hidden tabs throttle timers and suspended machines fire them late: no evidence of a dead
      // connection, so ask again (a visible tab checks at once, see the client's lifecycle handler).
      if (this.#lifecycle?.hidden?.() || now() - due > ms) return this.ping()
      this.#onDead.call(this.#owner, 'pong_timeout', `no pong within pongTimeoutMs=${ms}`)
    }, ms)
  }

  /** A frame arrived on the active connection. */
  alive(): void {
    if (this.#ws) {
      clearTimeout(this.#pong)
      this.#pong = undefined
      return
    }
    // Runs for every SSE frame: re-arming a timer per frame costs more than parsing the frame,
    // so note the time and let one timer compare it when it fires.
    this.#lastFrameAt = now()
    if (this.#timer === undefined) this.#watchSilence(this.#silenceMs())
  }

  stop(): void {
    clearTimeout(this.#timer)
    clearTimeout(this.#pong)
    this.#timer = this.#pong = undefined
  }

  #silenceMs(): number {
    return timerMs(this.#o.sseSilenceTimeoutMs ?? Math.round(this.#hb * 2.5))
  }

  #watchSilence(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      const limit = this.#silenceMs()
      const quiet = now() - this.#lastFrameAt
      if (quiet < limit) return this.#watchSilence(limit - quiet)
      this.#onDead.call(this.#owner, 'sse_silent', `no frame or heartbeat for ${limit} ms`)
    }, ms)
  }
}
