/**
 * The retry budget: how many reconnects in a row (the backoff step), how many of them failed (for
 * `maxAttempts`), how many auth refusals (for `authRetries`), and which refusal still stands.
 *
 * A refusal stands until evidence clears it, so a loop open → refused → open can never reset its own
 * count (issue #13: a new hello used to reset the auth-failure count, and the client looped at 110–160
 * requests per second):
 * - `handshake`: refused before its hello (close 4401, SSE GET 401): the next hello clears it.
 * - `open`: refused after the hello (a refused POST, an error frame, 4401 on an open socket): a hello
 *   proves nothing. It is cleared when the server accepts a request beyond the handshake (a POST
 *   answered with acks), when an open connection ends for another reason, or by a healthy connection.
 * The state machine reports what happened; this decides the counts. Pure: no timers, no I/O.
 */
export type Refusal = 'handshake' | 'open'

export class RetryBudget {
  /** Reconnects since the last healthy connection: the backoff step and the `attempt` of status events. */
  attempt = 0
  /** Failed attempts in a row (attempts that never opened, open connections the server refused); a drop is not one. */
  #failed = 0
  #authFailures = 0
  #refused: Refusal | undefined
  readonly #maxAttempts: number
  readonly #authRetries: number

  /** The refusal that still stands, if any. */
  get refused(): Refusal | undefined {
    return this.#refused
  }

  constructor(maxAttempts: number, authRetries: number) {
    this.#maxAttempts = maxAttempts
    this.#authRetries = authRetries
  }

  /** A fresh start (`connect()`). */
  reset(): void {
    this.attempt = this.#failed = this.#authFailures = 0
    this.#refused = undefined
  }

  /** A reconnect is due. `failed`: the attempt failed (not a drop). Returns false when `maxAttempts` is used up. */
  next(failed: boolean): boolean {
    this.attempt++
    return !(failed && ++this.#failed >= this.#maxAttempts)
  }

  /** The server refused (not the credentials). */
  refusal(kind: Refusal): void {
    this.#refused = kind
  }

  /** The server refused the credentials. Returns true when a refresh-and-retry is left. */
  authRefused(kind: Refusal): boolean {
    this.#refused = kind
    if (this.#authFailures >= this.#authRetries) return false
    this.#authFailures++
    return true
  }

  /** Evidence that clears a refusal of `kind`: unless another kind stands, the counts start again. */
  proved(kind: Refusal): void {
    if (this.#refused !== undefined && this.#refused !== kind) return
    this.#refused = undefined
    this.#failed = this.#authFailures = 0
  }

  /** A connection stayed open for `healthyAfterMs`: everything starts again. */
  healthy(): void {
    this.reset()
  }
}
