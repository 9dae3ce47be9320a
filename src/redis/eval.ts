import { createHash } from 'node:crypto'
import type { createClient } from 'redis'

export type Client = ReturnType<typeof createClient>

const shas = new Map<string, string>()

/**
 * Run a Lua script by its SHA (EVALSHA), sending its text (EVAL) only when Redis does not know
 * it: after a Redis restart the scripts reload themselves on first use.
 */
export async function evalScript(client: Client, script: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
  let sha = shas.get(script)
  if (!sha) shas.set(script, (sha = createHash('sha1').update(script).digest('hex')))
  const tail = [String(keys.length), ...keys, ...args]
  try {
    return await client.sendCommand(['EVALSHA', sha, ...tail])
  } catch (err) {
    // Redis's reply code (the first word of its error reply), not prose: NOSCRIPT means "load it".
    if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err
    return client.sendCommand(['EVAL', script, ...tail])
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
