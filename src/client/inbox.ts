import { ValidationError, errorText } from '../errors'
import type { StandardSchemaV1 } from '../schema'

/**
 * Validates incoming payloads against the app's schema and hands them on in
 * arrival order, even when the schema validates asynchronously.
 */
export class Inbox<M> {
  /** Payloads waiting behind an async validation (created when first needed). */
  #queue: unknown[] | undefined
  #busy = false

  constructor(
    private readonly schema: StandardSchemaV1,
    /** A valid message as `(undefined, message)`, an invalid payload as `(error, data)`. */
    private readonly out: (this: unknown, ...a: [error: undefined, message: M] | [error: ValidationError, data: unknown]) => void,
    /** `this` of `out`: the client passes one function for every client and itself here (no closure per client). */
    private readonly owner?: unknown,
  ) {}

  push(data: unknown): void {
    if (this.#busy) {
      ;(this.#queue ??= []).push(data)
      return
    }
    let r: StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>
    try {
      r = this.schema['~standard'].validate(data)
    } catch (err) {
      r = { issues: [{ message: `validator threw: ${errorText(err)}` }] } // an app's schema bug never throws into a transport
    }
    if (r instanceof Promise) {
      this.#busy = true
      void r.then(
        (res) => this.#settle(res, data),
        (err) => this.#settle({ issues: [{ message: `validator threw: ${errorText(err)}` }] }, data),
      ).finally(() => this.#drain())
      return
    }
    this.#settle(r, data)
  }

  #settle(r: StandardSchemaV1.Result<unknown>, data: unknown): void {
    if (r.issues) this.out.call(this.owner, new ValidationError(r.issues, 'incoming'), data)
    else this.out.call(this.owner, undefined, r.value as M)
  }

  async #drain(): Promise<void> {
    while (this.#queue?.length) {
      const data = this.#queue.shift()
      try {
        this.#settle(await this.schema['~standard'].validate(data), data)
      } catch (err) {
        this.#settle({ issues: [{ message: `validator threw: ${errorText(err)}` }] }, data)
      }
    }
    this.#busy = false
  }
}
