import type { FallbackMemory } from './memory'
import type { StatusReason } from './status'

/**
 * The WebSocket → SSE decision: counts WebSocket failures before open, remembers a
 * blocked WebSocket per URL, and says why SSE is used. The state machine reports
 * what happened; this is the one place that decides what it means for WebSocket.
 */
export class WsFallback {
  /** Consecutive WebSocket failures before open, across attempts. */
  #failures = 0
  /** Why WebSocket is not (or no longer) used in this attempt. */
  reason: StatusReason | undefined
  /** This attempt's WebSocket was refused before opening (the server, or a proxy, answered it). */
  refusedNow = false
  readonly #memory: FallbackMemory
  readonly #threshold: number

  constructor(memory: FallbackMemory, threshold: number) {
    this.#memory = memory
    this.#threshold = threshold
  }

  /**
   * A new attempt. `ws`: WebSocket is wanted and available (`'unavailable'`: wanted, missing);
   * `sse`: SSE is allowed. Returns whether to try WebSocket first.
   */
  begin(ws: boolean | 'unavailable', sse: boolean): boolean {
    this.reason = ws === 'unavailable' ? 'ws_unavailable' : undefined
    this.refusedNow = false
    if (ws !== true) return false
    if (!sse) return true
    if (this.#memory.isBlocked()) {
      this.reason = 'ws_remembered'
      return false
    }
    if (this.#failures < this.#threshold) return true
    this.reason = 'ws_refused'
    return false
  }

  /** WebSocket failed before its hello. Returns true when SSE should be tried now. */
  failed(reason: 'ws_refused' | 'ws_silent' | 'ws_timeout'): boolean {
    this.reason = reason
    if (reason === 'ws_refused') this.refusedNow = true
    return ++this.#failures >= this.#threshold
  }

  /** A candidate lost the attempt without its hello (another won, or none in time): counts if it was a WebSocket. */
  lost(c: { kind: 'websocket' | 'sse'; opened: boolean }): void {
    if (c.kind === 'websocket') this.failed(c.opened ? 'ws_silent' : 'ws_timeout')
  }

  /** SSE failed too: the server or the network is down, not WebSocket. */
  serverDown(): void {
    this.#failures = 0
  }

  /** A transport won the attempt. Returns the reason for the `open` status. */
  won(kind: 'websocket' | 'sse', wsWanted: boolean): StatusReason {
    if (kind === 'websocket') {
      this.restored()
      return 'opened'
    }
    const r = this.reason
    // SSE works where WebSocket did not: remember it (not when WebSocket was never tried).
    if (r && r !== 'ws_unavailable' && r !== 'ws_remembered') this.#memory.block()
    return wsWanted ? (r ?? 'opened') : 'opened'
  }

  /** WebSocket works (again): forget the failures and the memory. */
  restored(): void {
    this.#failures = 0
    this.#memory.clear()
  }
}
