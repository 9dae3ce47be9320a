import { ValidationError, errorText } from '../errors'
import type { StandardSchemaV1 } from '../schema'

/** A validator that threw (or rejected) makes the payload invalid: an app's schema bug never throws into a transport. */
const threw = (err: unknown): StandardSchemaV1.FailureResult => ({ issues: [{ message: `validator threw: ${errorText(err)}` }] })

/**
 * Validates incoming payloads against the app's schema and hands them on in
 * arrival order, even when the schema validates asynchronously.
 */
export class Inbox<M> {
  /** Payloads waiting behind an async validation: it exists while one is under way. */
  #queue: unknown[] | undefined

  readonly #schema: StandardSchemaV1
  readonly #out: (this: unknown, ...a: [error: undefined, message: M] | [error: ValidationError, data: unknown]) => void
  readonly #owner: unknown

  constructor(
    schema: StandardSchemaV1,
    /** A valid message as `(undefined, message)`, an invalid payload as `(error, data)`. */
    out: (this: unknown, ...a: [error: undefined, message: M] | [error: ValidationError, data: unknown]) => void,
    /** `this` of `out`: the client passes one function for every client and itself here (no closure per client). */
    owner?: unknown,
  ) {
    this.#schema = schema
    this.#out = out
    this.#owner = owner
  }

  push(data: unknown): void {
    if (this.#queue) this.#queue.push(data)
    else this.#run(data)
  }

  /** Validate `data` and hand it on; true when the validation went async (it hands it on when settled, then drains the queue). */
  #run(data: unknown): boolean {
    let r: StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>
    try {
      r = this.#schema['~standard'].validate(data)
    } catch (err) {
      r = threw(err)
    }
    if (!(r instanceof Promise)) {
      this.#settle(r, data)
      return false
    }
    this.#queue ??= []
    void r
      .then(
        (res) => this.#settle(res, data),
        (err) => this.#settle(threw(err), data),
      )
      .finally(() => this.#drain())
    return true
  }

  #settle(r: StandardSchemaV1.Result<unknown>, data: unknown): void {
    if (r.issues) this.#out.call(this.#owner, new ValidationError(r.issues, 'incoming'), data)
    else this.#out.call(this.#owner, undefined, r.value as M)
  }

  /** Hand on what waited, in order, until the next async validation (or the end: the queue goes). */
  #drain(): void {
    const q = this.#queue!
    while (q.length) if (this.#run(q.shift())) return
    this.#queue = undefined
  }
}
