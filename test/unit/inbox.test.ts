/** Specification of incoming validation and ordering (src/client/inbox.ts). */
import { describe, expect, it } from 'vitest'
import { ValidationError } from '../../src'
import { Inbox } from '../../src/client/inbox'
import type { StandardSchemaV1 } from '../../src/schema'

/** A Standard Schema accepting numbers, optionally validating asynchronously after `delay(value)` ms. */
function numbers(delay?: (v: number) => number, throwOn?: number): StandardSchemaV1<number> {
  const check = (v: unknown): StandardSchemaV1.Result<number> => {
    if (v === throwOn) throw new Error('validator bug')
    return typeof v === 'number' ? { value: v } : { issues: [{ message: 'not a number' }] }
  }
  return {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: (v) => (delay ? new Promise((r, j) => setTimeout(() => {
        try {
          r(check(v))
        } catch (e) {
          j(e)
        }
      }, delay(v as number))) : check(v)),
    },
  }
}

function collect<M>(schema: StandardSchemaV1) {
  const out: { ok?: M; bad?: unknown; error?: ValidationError }[] = []
  const inbox = new Inbox<M>(schema, (error, data) => void out.push(error ? { bad: data, error } : { ok: data as M }))
  return { inbox, out }
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2))
}

describe('Inbox', () => {
  it('hands valid payloads on synchronously with a synchronous schema', () => {
    const { inbox, out } = collect<number>(numbers())
    inbox.push(1)
    inbox.push(2)
    expect(out).toEqual([{ ok: 1 }, { ok: 2 }])
  })

  it('reports invalid payloads with a ValidationError and the raw data, and carries on', () => {
    const { inbox, out } = collect<number>(numbers())
    inbox.push('x')
    inbox.push(3)
    expect(out[0]!.bad).toBe('x')
    expect(out[0]!.error).toBeInstanceOf(ValidationError)
    expect(out[1]).toEqual({ ok: 3 })
  })

  it('keeps arrival order when an async schema settles out of order', async () => {
    const { inbox, out } = collect<number>(numbers((v) => (v === 1 ? 30 : 1)))
    for (const n of [1, 2, 3, 4]) inbox.push(n)
    await until(() => out.length === 4)
    expect(out.map((o) => o.ok)).toEqual([1, 2, 3, 4])
  })

  it('turns a throwing async validator into an invalid payload, without stopping the queue', async () => {
    const { inbox, out } = collect<number>(numbers(() => 1, 2))
    for (const n of [1, 2, 3]) inbox.push(n)
    await until(() => out.length === 3)
    expect(out.map((o) => o.ok ?? `bad:${o.bad}`)).toEqual([1, 'bad:2', 3])
    expect(out[1]!.error!.message).toMatch(/validator threw: validator bug/)
  })
})

describe('Inbox with a schema that throws synchronously', () => {
  it('reports the payload as invalid instead of throwing into the transport', () => {
    const { inbox, out } = collect<number>(numbers(undefined, 2))
    expect(() => inbox.push(2)).not.toThrow()
    inbox.push(3)
    expect(out.map((o) => o.ok ?? `bad:${o.bad}`)).toEqual(['bad:2', 3])
  })
})
