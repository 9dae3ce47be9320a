/**
 * The session log's entry shapes and key TTLs (src/redis/log.ts, SYNC_LUA in src/redis/scripts.ts),
 * against a real redis-server started by the test:
 * - a burst written in one call is ONE `b` entry; an adopter replays it (and `m` entries) in order;
 * - a log in the shape surewire wrote before batched entries (one `m` entry per message) still
 *   replays after an upgrade;
 * - every key of a session carries a TTL after a write, including a nacks hash the script
 *   rewrote without renewing the others; a retried write after a lost reply adds nothing twice.
 */
import { describe, expect, it } from 'vitest'
import { createClient } from 'redis'
import { SYNC_LUA } from '../../src/redis/scripts'
import { logMessages, type LogEntry } from '../../src/redis/log'
import { matching, wsPeer } from '../support/peer'
import { useRedis } from '../support/redis-server'
import { until } from '../support/servers'
import { redisNode, type RedisNode } from './nodes'

const fixture = useRedis()
let admin: ReturnType<typeof createClient> | undefined
/** One command on a plain client of the file's redis-server (to read and rewrite the keys). */
async function cmd(args: string[]): Promise<unknown> {
  if (!admin) {
    const c = (admin = createClient({ url: fixture.redis.url }))
    await c.connect()
    fixture.cleanup(async () => {
      admin = undefined
      await c.quit()
    })
  }
  return admin.sendCommand(args)
}

let prefixes = 0
const prefix = () => `lf${++prefixes}-${process.pid}:`
const node = (p: string) => redisNode(fixture, p)

const ticks = (frames: ReturnType<typeof matching<'msg'>>) => frames.map((f) => (f.d as { n: number }).n)
const entries = async (key: string) => (await cmd(['XRANGE', key, '-', '+'])) as LogEntry[]

/** A session on A with ten messages in its log: five sends one at a time, then a burst of five broadcasts. */
async function sessionWithLog(a: RedisNode) {
  const ws = wsPeer(a.url)
  const { sid } = await ws.hello()
  await until(() => a.conns.length === 1, 10_000, 'the connection')
  for (let n = 1; n <= 5; n++) await a.conns[0]!.send({ type: 'tick', n })
  await Promise.all([6, 7, 8, 9, 10].map((n) => a.realtime.broadcast({ type: 'tick', n })))
  await ws.wait('msg', undefined, 10)
  expect(ticks(matching(ws.frames, 'msg'))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  ws.ws.close()
  await ws.closed()
  return sid
}

describe('the session log', () => {
  it('a burst is one batched entry; after a crash the adopter replays every entry shape in order, once', async () => {
    const p = prefix()
    const [a, b] = await Promise.all([node(p), node(p)])
    const sid = await sessionWithLog(a)
    const log = await entries(`${p}s:${sid}:log`)
    expect(log.some(([, f]) => f[0] === 'b')).toBe(true)
    expect(log.some(([, f]) => f[0] === 'm')).toBe(true)
    expect(logMessages(log).map(([id]) => id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    a.crash()
    const again = wsPeer(b.url, `sid=${sid}&last=0`)
    expect(await again.hello()).toMatchObject({ sid, resumed: true })
    await again.wait('msg', undefined, 10)
    expect(ticks(matching(again.frames, 'msg'))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(matching(again.frames, 'msg').map((f) => f.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(b.conns.map((c) => c.adopted)).toEqual([true])
  })

  it('a log written in the shape before batched entries (one `m` entry per message) still replays after an upgrade', async () => {
    const p = prefix()
    const [a, b] = await Promise.all([node(p), node(p)])
    const sid = await sessionWithLog(a)
    a.crash()
    // Rewrite the log as surewire before batched entries wrote it: `<id>-1 m <text>`, one per message.
    const key = `${p}s:${sid}:log`
    const messages = logMessages(await entries(key))
    await cmd(['DEL', key])
    for (const [id, text] of messages) await cmd(['XADD', key, 'MAXLEN', '~', '10000', `${id}-1`, 'm', text])
    await cmd(['PEXPIRE', key, '60000'])
    expect((await entries(key)).every(([, f]) => f[0] === 'm')).toBe(true)
    const again = wsPeer(b.url, `sid=${sid}&last=3`)
    expect(await again.hello()).toMatchObject({ sid, resumed: true })
    await again.wait('msg', undefined, 7)
    expect(ticks(matching(again.frames, 'msg'))).toEqual([4, 5, 6, 7, 8, 9, 10])
    // …and the adopted session goes on writing (batched entries after the old ones).
    await Promise.all([11, 12].map((n) => b.realtime.broadcast({ type: 'tick', n })))
    await again.wait('msg', undefined, 9)
    expect(ticks(matching(again.frames, 'msg'))).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12])
    expect(logMessages(await entries(key)).map(([id]) => id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
  })

  it('every key of a session carries a TTL after a write', async () => {
    const p = prefix()
    const a = await node(p)
    const ws = wsPeer(a.url)
    const { sid } = await ws.hello()
    await until(() => a.conns.length === 1, 10_000, 'the connection')
    await a.conns[0]!.send({ type: 'tick', n: 1 })
    await Promise.all([2, 3].map((n) => a.realtime.broadcast({ type: 'tick', n })))
    await ws.wait('msg', undefined, 3)
    for (const key of [`${p}s:${sid}`, `${p}s:${sid}:log`]) expect(Number(await cmd(['PTTL', key])), key).toBeGreaterThan(0)
  })
})

describe('SYNC_LUA', () => {
  const hdr = ['0-0', '60000', '10000']
  const frame = (id: number) => `{"t":"msg","id":${id},"d":{"n":${id}}}`
  const run = (from: number, to: number) => {
    const ids = Array.from({ length: to - from + 1 }, (_, i) => from + i)
    return [String(from), String(ids.length), ids.map(frame).join('\x1e')]
  }
  const sync = async (k: string, args: string[]) => cmd(['EVAL', SYNC_LUA, '3', k, `${k}:log`, `${k}:n`, ...hdr, ...args])

  it('a nacks hash rewritten without a renewal still gets a TTL; a retried call adds nothing twice', async () => {
    const k = `${prefix()}s:x`
    await cmd(['HSET', k, 'ep', '1', 'nid', '1'])
    await cmd(['PEXPIRE', k, '60000'])
    // First write renews (flag 2) and creates the log.
    expect(await sync(k, ['1', '2', '1', ...run(1, 3)])).toEqual([1])
    // Inbound only (flag 1), one nack, no renewal: the nacks key is new and must carry a TTL anyway.
    expect(await sync(k, ['1', '1', '5', '0', '[]', '1', '4', '{"t":"nack","seq":4}', '0'])).toEqual([1])
    for (const key of [k, `${k}:log`, `${k}:n`]) expect(Number(await cmd(['PTTL', key])), key).toBeGreaterThan(0)
    // The reply to the first call was "lost": it is sent again with two more messages queued since.
    expect(await sync(k, ['1', '0', '1', ...run(1, 5)])).toEqual([1])
    // Not consecutive (6, then 8): two runs; the single one is an `m` entry.
    expect(await sync(k, ['1', '0', '2', ...run(6, 6), ...run(8, 9)])).toEqual([1])
    const log = await entries(`${k}:log`)
    expect(log.map(([id, f]) => [id, f[0]])).toEqual([['1-1', 'b'], ['4-1', 'b'], ['6-1', 'm'], ['8-1', 'b']])
    expect(logMessages(log)).toEqual([1, 2, 3, 4, 5, 6, 8, 9].map((id) => [id, frame(id)]))
    expect(await cmd(['HGET', k, 'nid'])).toBe('10')
    // Another epoch: fenced, nothing written.
    expect(await sync(k, ['2', '0', '1', ...run(10, 10)])).toEqual([0])
    expect(logMessages(await entries(`${k}:log`)).at(-1)![0]).toBe(9)
  })
})
