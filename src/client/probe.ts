import { now, timerMs } from './time'

/** How long, beyond twice its handshake, an opened probe may take to say hello once the old stream has ended. */
export const PROBE_HELLO_GRACE_MS = 250

/** What the probe needs from the state machine. `C` is the state machine's connection record. */
export interface ProbeHost<C> {
  /** The token for the probe (the app's provider). */
  token(): Promise<string | undefined>
  /** Is the client still on SSE (else the probe is pointless)? */
  onSse(): boolean
  /** Open the probe WebSocket. */
  open(token: string | undefined): C
  /** Close a probe that was given up. */
  drop(c: C): void
  /** The probe gave up (timeout, token failure, grace over): the state machine settles what follows. */
  failed(): void
}

/**
 * While on SSE, try WebSocket again in the background every `wsProbeIntervalMs`. Owns the probe's
 * timer: the token phase and the handshake share one `connectTimeoutMs`, and once the old stream has
 * ended under an opened probe, its hello gets a handshake-sized grace (see {@link awaitHello}).
 * Contract C3: the state machine sends a ping on the probe as soon as it opens; the server keeps the
 * SSE stream until that first frame, so SSE keeps delivering until the probe's hello.
 */
export class BackgroundProbe<C> {
  #timer: ReturnType<typeof setTimeout> | undefined
  /** Bumped per probe and on stop(), so a late token for an abandoned probe opens nothing. */
  #id = 0
  #start = 0
  #handshakeMs = 0

  readonly #o: { wsProbeIntervalMs: number; connectTimeoutMs: number }
  readonly #host: ProbeHost<C>

  constructor(o: { wsProbeIntervalMs: number; connectTimeoutMs: number }, host: ProbeHost<C>) {
    this.#o = o
    this.#host = host
  }

  /** Probe after `wsProbeIntervalMs` (0: never). */
  schedule(): void {
    if (this.#o.wsProbeIntervalMs) this.#arm(this.#o.wsProbeIntervalMs, () => void this.#run())
  }

  /** No probe from now on (until schedule()); a pending token is ignored. */
  stop(): void {
    this.#id++
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** The probe WebSocket opened: note how long its handshake took. */
  opened(): void {
    this.#handshakeMs = now() - this.#start
  }

  /**
   * The old stream ended while the opened probe has not said hello. On a working path the hello
   * was sent before the server could end the old stream (contract C3), so it is due within about a
   * handshake: wait that long, not the whole connectTimeoutMs (a path that passes the upgrade but no
   * frames would otherwise cost that much delivery), then give the probe up.
   */
  awaitHello(c: C): void {
    const graceMs = Math.min(this.#o.connectTimeoutMs, PROBE_HELLO_GRACE_MS + 2 * this.#handshakeMs)
    this.#arm(graceMs, () => this.#giveUp(c))
  }

  async #run(): Promise<void> {
    const id = ++this.#id
    let c: C | undefined
    // One timer for the token phase and the handshake: a provider that never settles only delays the next probe.
    this.#arm(this.#o.connectTimeoutMs, () => this.#giveUp(c))
    let token: string | undefined
    try {
      token = await this.#host.token()
    } catch {
      if (id === this.#id) this.#giveUp(c)
      return
    }
    if (id !== this.#id || !this.#host.onSse()) return
    this.#start = now()
    c = this.#host.open(token)
  }

  /** The probe failed (timeout, token, grace over): drop its WebSocket if it has one. */
  #giveUp(c: C | undefined): void {
    this.stop()
    if (c !== undefined) this.#host.drop(c)
    this.#host.failed()
  }

  #arm(ms: number, fn: () => void): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(fn, timerMs(ms))
  }
}
