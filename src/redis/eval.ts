import { createHash } from 'node:crypto'
import type { createClient } from 'redis'
import { BrokerError } from '../server/broker'

export type Client = ReturnType<typeof createClient>

const shas = new Map<string, string>()
/** Each client's `commandTimeoutMs` (set once by createRedisBroker). */
const bounds = new WeakMap<Client, number>()

/** Every command sent through {@link send} / {@link evalScript} on `client` settles within `ms`. */
export function boundCommands(client: Client, ms: number): void {
  bounds.set(client, ms)
}

/**
 * One Redis command that settles within the client's `commandTimeoutMs`: node-redis drops it
 * from its queue if it was not written yet, and a reply that never comes (a command written just
 * before the connection died) is given up here; both reject `BrokerError('broker_unavailable')`.
 * A timed-out command may still have run: callers retry only idempotent ones.
 */
export function send(client: Client, args: string[]): Promise<unknown> {
  const ms = bounds.get(client)
  if (ms === undefined) return client.sendCommand(args)
  return new Promise((resolve, reject) => {
    const late = () => new BrokerError('broker_unavailable', `Redis did not answer ${args[0]} within commandTimeoutMs=${ms}`)
    const t = setTimeout(() => reject(late()), ms)
    client.sendCommand(args, { timeout: ms }).then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject((e as Error)?.name === 'TimeoutError' ? late() : e)),
    )
  })
}

/**
 * Run a Lua script by its SHA (EVALSHA), sending its text (EVAL) only when Redis does not know
 * it: after a Redis restart the scripts reload themselves on first use.
 */
export async function evalScript(client: Client, script: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
  let sha = shas.get(script)
  if (!sha) shas.set(script, (sha = createHash('sha1').update(script).digest('hex')))
  const tail = [String(keys.length), ...keys, ...args]
  try {
    return await send(client, ['EVALSHA', sha, ...tail])
  } catch (err) {
    // Redis's reply code (the first word of its error reply), not prose: NOSCRIPT means "load it".
    if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err
    return send(client, ['EVAL', script, ...tail])
  }
}

/** Compare two stream ids (`ms-seq`). */
export function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am - bm || as - bs
}

/** A flat `[field, value, …]` reply (or a RESP3 map) as an object. */
export function fieldsOf(reply: unknown): Record<string, string> {
  if (reply instanceof Map) return Object.fromEntries([...reply].map(([k, v]) => [String(k), String(v)]))
  const out: Record<string, string> = {}
  const a = reply as unknown[]
  for (let i = 0; i + 1 < a.length; i += 2) out[String(a[i])] = String(a[i + 1])
  return out
}

/** A failed Redis call as the server reports it: `BrokerError('broker_unavailable')`, the cause kept. */
export async function unavailable<T>(p: Promise<T>): Promise<T> {
  try {
    return await p
  } catch (err) {
    if (err instanceof BrokerError) throw err
    const e = new BrokerError('broker_unavailable', `Redis did not answer: ${(err as Error).message}`)
    ;(e as { cause?: unknown }).cause = err
    throw e
  }
}

/** A Redis call that failed because a client of ours is closing or closed (node-redis's error classes, by name). */
export function isShutdownFailure(err: unknown): boolean {
  const cause = err instanceof BrokerError ? (err as { cause?: unknown }).cause : err
  const name = (cause as { constructor?: { name?: string } } | undefined)?.constructor?.name
  return name === 'DisconnectsClientError' || name === 'ClientClosedError' || (err instanceof BrokerError && err.code === 'broker_unavailable')
}

/** Mark a promise handled (an ignored conn.send() never becomes an unhandled rejection) and return it. */
export function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {})
  return p
}
