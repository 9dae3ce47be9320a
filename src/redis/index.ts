/**
 * `surewire/redis`: a broker that shares sessions and fans `broadcast()` / `publish()` out across
 * server processes through Redis.
 *
 * ```ts
 * import { createRedisBroker } from 'surewire/redis'
 * const realtime = createRealtimeServer({ incoming, outgoing, broker: await createRedisBroker({ url: 'redis://127.0.0.1:6379' }) })
 * ```
 *
 * How: a publish is one Lua script that XADDs the message to `<prefix>fanout` (trimmed by
 * count) and returns the stream epoch, atomically. Every process tails the stream with a
 * blocking XREAD on its own connection from the last entry id it delivered, so each process
 * receives every message exactly once, in the stream's one total order (hence per-topic order),
 * and a process whose Redis connection drops resumes from that id with nothing skipped. The
 * epoch (a random value set once per stream) tells a process that Redis came back without its
 * data, and a reader that resumes past what the stream still holds (trimmed while it was away)
 * finds that out too (`lostAfter`); either is reported (`broker_data_lost`) and announced to
 * the clients of the sessions homed there (a reset), instead of passing silently.
 *
 * Sessions are shared too (src/redis/sessions.ts, gateway.ts; contract S1): any process may
 * serve any request for a session; its home process writes its state through to Redis, other
 * processes forward to the home over pub/sub, and adopt the session when the home is gone.
 *
 * Client library: node-redis (`redis` on npm, ≥ 5), an optional peer dependency. Minimum Redis:
 * 6.2 (tested on 7.0).
 */
import { createClient } from 'redis'
import { ConfigError } from '../errors'
import { BrokerError, type Broker, type BrokerHandlers, type FanOut } from '../server/broker'
import { CLUSTER, type ClusterHost } from '../server/cluster/layer'
import { boundCommands, compareIds, evalScript, send } from './eval'
import { ReadPosition } from './position'
import { RedisSessions, sessionDefaults } from './sessions'

type Client = ReturnType<typeof createClient>

export interface RedisBrokerOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379`. Either this or `client`. */
  url?: string
  /**
   * A node-redis client you created (not yet connected, or connected). The broker duplicates it
   * for its blocking reader. You close it yourself; `close()` only closes the duplicate.
   */
  client?: Client
  /** Prefix of every key the broker uses, so several apps can share one Redis. @default 'surewire:' */
  keyPrefix?: string
  /**
   * Entries kept in the fan-out stream (XADD MAXLEN ~, so at least this many). A process whose
   * fan-out reader is away (its Redis connection down, or the process stalled: a blocked event
   * loop, SIGSTOP, a paused VM) for longer than it takes the others to publish this many messages
   * misses the oldest of them: never silently. When its reader resumes it checks the stream still
   * holds what follows its position (after a failed read or a read that came back more than
   * `blockMs` + 1 s late, and whenever one read returns this many entries, or 1,000); if not, it
   * reports `broker_data_lost` once on the server's `error` event and every session homed on
   * that process is told: its transports close (1001) and its resume gets
   * `reset: 'replay_window_exceeded'`. Use the same value on every process (XADD trims with the
   * publisher's). @default 100_000
   */
  streamMaxEntries?: number
  /** How long `createRedisBroker` waits for Redis before it throws `broker_unreachable`. @default 5_000 */
  connectTimeoutMs?: number
  /**
   * How long one Redis command (a publish, a session write, a forwarded request) may wait for its
   * answer before it fails with `broker_unavailable`: a `publish()` or `conn.send()` always
   * settles, even when Redis restarts with the command in flight. Session writes that fail are
   * held and retried (idempotent), so this bounds a wait, not what is kept. A publish that Redis
   * took then waits up to as long again for this process's fan-out reader to deliver it (so a
   * `conn.send()` after it is ordered after it): it settles within about 2 × this. @default 5_000
   */
  commandTimeoutMs?: number
  /** How long one blocking read waits before it asks again. @default 5_000 */
  blockMs?: number
  /**
   * How often a process checks that the other processes its transports depend on are still
   * subscribed (a gateway's home, a home's gateways); a dead one's transports are closed so the
   * clients resume and the session is adopted. Bounds the time from a crash to recovery for a
   * client whose transport is on another process than the session's home. @default 1_000
   */
  livenessIntervalMs?: number
  /** How long a gateway waits for the home process to answer a forwarded POST or attach. @default 10_000 */
  forwardTimeoutMs?: number
  /**
   * Outbound messages a session's home holds while Redis does not take its writes (they go out,
   * in order, once it does): the memory bound of an outage, per session. Past it a `conn.send()`
   * rejects `broker_unavailable`, and a `broadcast()` / `publish()` for that session hands the
   * session back to Redis instead of dropping the message: its transports close, and the client's
   * resume (once Redis answers) adopts it and re-reads the fan-out messages it is owed from the
   * fan-out stream (docs/RELIABILITY.md "Redis faults"). @default 10_000
   */
  maxHeldMessages?: number
}

export const redisBrokerDefaults = {
  keyPrefix: 'surewire:',
  streamMaxEntries: 100_000,
  connectTimeoutMs: 5_000,
  commandTimeoutMs: 5_000,
  blockMs: 5_000,
  ...sessionDefaults,
} as const

/** Lua: `epoch` = the stream epoch at `key`, set to `fresh` first if missing (every process agrees on it from the first start). */
const epochLua = (key: string, fresh: string) => `
local epoch = redis.call('GET', ${key})
if not epoch then
  epoch = ${fresh}
  redis.call('SET', ${key}, epoch)
end`
/** The epoch, created if missing. KEYS epoch; ARGV fresh epoch. */
const EPOCH_LUA = `${epochLua('KEYS[1]', 'ARGV[1]')}
return epoch
`
/** Append one message (creating the stream's epoch once) and return its entry id, in one atomic step. KEYS stream, epoch; ARGV max entries, topic field, payload, fresh epoch. */
const PUBLISH_LUA = `${epochLua('KEYS[2]', 'ARGV[4]')}
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 't', ARGV[2], 'p', ARGV[3])
`

const randomEpoch = () => Array.from(globalThis.crypto.getRandomValues(new Uint8Array(9)), (b) => b.toString(16).padStart(2, '0')).join('')

/** Connect (or reuse `client`), check Redis answers, and return the broker. Throws `BrokerError('broker_unreachable')` if it does not within `connectTimeoutMs`. */
export async function createRedisBroker(options: RedisBrokerOptions): Promise<Broker> {
  const o = { ...redisBrokerDefaults, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as RedisBrokerOptions & typeof redisBrokerDefaults
  if (!o.url === !o.client) throw new BrokerError('broker_unreachable', 'createRedisBroker: pass either `url` or `client`')
  if (!Number.isSafeInteger(o.maxHeldMessages) || o.maxHeldMessages < 1) throw new ConfigError(`createRedisBroker: maxHeldMessages must be a positive integer (got ${String(o.maxHeldMessages)})`)
  const own = !o.client
  const main: Client = o.client ?? createClient({ url: o.url, socket: { connectTimeout: o.connectTimeoutMs, reconnectStrategy: (n) => Math.min(50 * 2 ** n, 2_000) } })
  const reader: Client = main.duplicate()
  const sub: Client = main.duplicate()
  const errors: unknown[] = []
  // node-redis emits `error` for every failed reconnect; an unlistened one would end the process.
  const onError = (err: unknown) => errors.push(err)
  main.on('error', onError)
  reader.on('error', onError)
  sub.on('error', onError)
  const where = o.url ?? 'the given client'
  const timeout = <T>(p: Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new BrokerError('broker_unreachable', `could not reach Redis at ${where} within connectTimeoutMs=${o.connectTimeoutMs}`)), o.connectTimeoutMs)
      p.then(
        (v) => (clearTimeout(t), resolve(v)),
        (e) => (clearTimeout(t), reject(new BrokerError('broker_unreachable', `could not reach Redis at ${where}: ${(e as Error).message}`))),
      )
    })
  try {
    await timeout(
      (async () => {
        if (!main.isOpen) await main.connect()
        await reader.connect()
        await sub.connect()
        const info = String(await main.sendCommand(['INFO', 'server']))
        const version = /redis_version:(\d+)\.(\d+)/.exec(info)
        if (version && (Number(version[1]) < 6 || (Number(version[1]) === 6 && Number(version[2]) < 2))) {
          throw new Error(`Redis ${version[1]}.${version[2]} is too old; surewire/redis needs Redis ≥ 6.2`)
        }
      })(),
    )
  } catch (err) {
    await Promise.allSettled([reader.isOpen ? reader.disconnect() : undefined, sub.isOpen ? sub.disconnect() : undefined, own && main.isOpen ? main.disconnect() : undefined])
    throw err
  }
  boundCommands(main, o.commandTimeoutMs)
  const broker = new RedisBroker(o, main, reader, own, onError)
  broker.sessions = new RedisSessions({ main, sub, prefix: o.keyPrefix, broker, options: o })
  await timeout(broker.init())
  await timeout(broker.sessions.subscribe())
  return broker
}

type Entry = [id: string, fields: string[]]

/** XREAD's entries for our one stream: RESP2 answers `[[key, entries]]`, RESP3 `{ key: entries }`; null when it timed out. */
function streamEntries(res: unknown): Entry[] {
  if (res === null || res === undefined) return []
  if (Array.isArray(res)) return res.flatMap((s) => (s as [string, Entry[]])[1] ?? [])
  if (res instanceof Map) return [...res.values()].flat() as Entry[]
  if (typeof res === 'object') return Object.values(res as Record<string, Entry[]>).flat()
  throw new Error(`unexpected XREAD reply: ${typeof res}`)
}

/** Entries one XREAD asks for. */
const READ_COUNT = 1000
/** A read that came back this much later than its BLOCK timeout means the process stalled. */
const STALL_MS = 1_000

const trimmed = (from: string, max: number) =>
  `this process's fan-out reader fell behind the stream (trimmed to about streamMaxEntries=${max}) after ${from}: messages published meanwhile are lost here; the clients of its sessions get a reset`

/** Test hook (symbol, not an export): stop as a crashed process would, without flushing or releasing anything. */
const CRASH = Symbol.for('surewire.test.crash')

class RedisBroker implements Broker {
  /** The session layer of this process (contract S1), handed to the server through {@link CLUSTER}. */
  sessions!: RedisSessions
  readonly #stream: string
  readonly #epochKey: string
  #handlers: BrokerHandlers | undefined
  #epoch: string | undefined
  readonly #pos = new ReadPosition()
  #closed = false
  #healthy = true
  #loop: Promise<void> | undefined

  constructor(
    private readonly o: RedisBrokerOptions & typeof redisBrokerDefaults,
    private readonly main: Client,
    private readonly reader: Client,
    private readonly own: boolean,
    private readonly onError: (err: unknown) => void,
  ) {
    this.#stream = `${o.keyPrefix}fanout`
    this.#epochKey = `${o.keyPrefix}fanout:epoch`
  }

  async fanOut(m: FanOut): Promise<void> {
    if (this.#closed) throw new BrokerError('broker_unavailable', 'the broker is closed')
    const args = [String(this.o.streamMaxEntries), m.topic === undefined ? '' : '#' + m.topic, m.payload, randomEpoch()]
    let id: string
    try {
      id = String(await evalScript(this.main, PUBLISH_LUA, [this.#stream, this.#epochKey], args))
    } catch (err) {
      // Settled either way (commandTimeoutMs): a rejection is always a BrokerError, the cause kept.
      if (err instanceof BrokerError) throw err
      throw Object.assign(new BrokerError('broker_unavailable', `Redis did not take the publish: ${(err as Error).message}`), { cause: err })
    }
    // Redis holds it. Resolve once this process has delivered it too, so that a conn.send() the app
    // makes next is ordered after it (as with the in-memory broker). A reader that is down or
    // behind holds this at most commandTimeoutMs, then it resolves anyway (the order is then not
    // kept): the message is in the stream, and the reader delivers it once back (or, if Redis lost
    // it, reports broker_data_lost). A closed broker's reader delivers nothing more: no wait.
    await this.#pos.reached(id, this.o.commandTimeoutMs)
  }

  /** Where this process starts reading: the stream's end when the broker is created, so everything published after `createRedisBroker` resolved is delivered here. */
  async init(): Promise<void> {
    this.#epoch = String(await send(this.main, ['EVAL', EPOCH_LUA, '1', this.#epochKey, randomEpoch()]))
    const tail = (await send(this.main, ['XREVRANGE', this.#stream, '+', '-', 'COUNT', '1'])) as [string, string[]][]
    this.#pos.moveTo(tail[0]?.[0] ?? '0-0')
  }

  /** The id of the last fan-out entry delivered to this process's sessions. */
  get position(): string {
    return this.#pos.id
  }

  /** Resolves `true` once this process has delivered the fan-out entry `id` (or a later one); `false` after `ms` without. */
  reached(id: string, ms: number): Promise<boolean> {
    return this.#pos.reached(id, ms)
  }

  /**
   * Whether the fan-out stream no longer holds everything after `from` (trimmed by
   * `streamMaxEntries`): adoption catch-up from there would skip messages. Judged from the first
   * entry still held: later than `from` (and, on Redis ≥ 7, some entry ever trimmed: `entries-added`
   * > `length`; the broker never XDELs) means the entry at `from` was trimmed, and so may be some
   * after it. Conservative: a reset too many only when exactly the entry at `from` went.
   */
  async lostAfter(from: string): Promise<boolean> {
    // Nothing published yet: nothing trimmed (a Redis that lost its data is the epoch's job).
    if (Number(await send(this.main, ['EXISTS', this.#stream])) === 0) return false
    const info = await send(this.main, ['XINFO', 'STREAM', this.#stream])
    // node-redis answers a map (an object, or a Map under RESP3); a flat [field, value, …] array is read too.
    const field = (name: string): unknown => {
      if (info instanceof Map) return (info as Map<string, unknown>).get(name)
      if (Array.isArray(info)) {
        const i = info.indexOf(name)
        return i >= 0 && i % 2 === 0 ? info[i + 1] : undefined
      }
      return (info as Record<string, unknown>)[name]
    }
    const first = (field('first-entry') as [string, unknown] | null | undefined)?.[0]
    if (first === undefined || compareIds(first, from) <= 0) return false // the entry at `from` (or one before it) is still held
    // Redis ≥ 7 counts what was ever added: none trimmed when all are still there.
    const added = field('entries-added')
    return added === undefined || Number(added) > Number(field('length'))
  }

  /** The fan-out messages after `from` up to and including `to` (adoption catch-up). */
  async fanoutRange(from: string, to: string): Promise<FanOut[]> {
    const entries = (await send(this.main, ['XRANGE', this.#stream, '(' + from, to])) as Entry[]
    return entries.flatMap(([, fields]) => {
      const m = parseEntry(fields)
      return m ? [m] : []
    })
  }

  [CLUSTER](host: ClusterHost): RedisSessions {
    this.sessions.bind(host)
    return this.sessions
  }

  /** See {@link CRASH}. */
  [CRASH](): void {
    this.#closed = true
    this.sessions.crash()
    for (const c of [this.main, this.reader, this.sessions.link.sub]) if (c.isOpen) c.destroy()
    this.#pos.release()
  }

  start(handlers: BrokerHandlers): void {
    this.#handlers = handlers
    this.#loop = this.#run()
  }

  async #run(): Promise<void> {
    let failures = 0
    // The previous read came back late (the process stalled: a blocked event loop, SIGSTOP, a paused VM): check the next batch.
    let stalled = false
    while (!this.#closed) {
      try {
        const from = this.#pos.id
        const sent = performance.now()
        const entries = streamEntries(await this.reader.sendCommand(['XREAD', 'BLOCK', String(this.o.blockMs), 'COUNT', String(READ_COUNT), 'STREAMS', this.#stream, from]))
        const late = performance.now() - sent > this.o.blockMs + STALL_MS
        if (!this.#healthy) await this.#recovered(entries.length > 0 ? from : undefined)
        else if (entries.length > 0 && (stalled || entries.length >= Math.min(READ_COUNT, this.o.streamMaxEntries))) await this.#gap(from)
        stalled = late
        failures = 0
        for (const [id, fields] of entries) this.#deliver(id, fields)
        this.#pos.settle()
      } catch (err) {
        if (this.#closed) return
        failures++
        if (this.#healthy) {
          this.#healthy = false
          this.#handlers?.status({ ok: false, reason: 'broker_unavailable', detail: `Redis fan-out read failed: ${(err as Error).message}; retrying` })
          this.sessions.outage(true)
        }
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** failures, 2_000)))
      }
    }
  }

  /**
   * Back after a failure: if Redis lost its data (new epoch), say so and read the new stream from
   * its start; else, when the read after `from` returned entries, check the stream still held what
   * follows `from` ({@link #gap}).
   */
  async #recovered(from: string | undefined): Promise<void> {
    const epoch = String(await send(this.main, ['EVAL', EPOCH_LUA, '1', this.#epochKey, randomEpoch()]))
    const lost = epoch === this.#epoch && from !== undefined && (await this.lostAfter(from))
    this.#healthy = true
    if (epoch !== this.#epoch) {
      this.#epoch = epoch
      this.#pos.moveTo('0-0')
      this.#dataLost('Redis came back without its data (new fan-out epoch): messages published before the restart may be lost')
    } else if (lost) this.#dataLost(trimmed(from!, this.o.streamMaxEntries))
    this.#handlers?.status({ ok: true })
    this.sessions.outage(false)
  }

  /** A read after `from` that may have skipped entries trimmed meanwhile (a batch as large as the stream keeps, or after a stall): report it if so. */
  async #gap(from: string): Promise<void> {
    if (await this.lostAfter(from)) this.#dataLost(trimmed(from, this.o.streamMaxEntries))
  }

  /** Fan-out messages may be gone for this process: reported once (`broker_data_lost`), and every session homed here is told (reset on its resume). */
  #dataLost(detail: string): void {
    this.#handlers?.status({ ok: false, reason: 'broker_data_lost', detail })
    this.sessions.fanoutLost()
  }

  #deliver(id: string, fields: string[]): void {
    this.#pos.moveTo(id)
    const m = parseEntry(fields)
    if (!m) return
    try {
      this.#handlers?.deliver(m)
    } catch (err) {
      this.onError(err)
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.allSettled([this.reader.disconnect(), this.sessions.link.sub.disconnect()])
    await this.#loop?.catch(() => {})
    this.#pos.release()
    if (this.own) await Promise.allSettled([this.main.disconnect()])
  }
}

/** One fan-out stream entry's fields (`t`: '' or '#topic', `p`: payload). */
function parseEntry(fields: string[]): FanOut | undefined {
  let t = ''
  let p: string | undefined
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 't') t = fields[i + 1]!
    else if (fields[i] === 'p') p = fields[i + 1]
  }
  if (p === undefined) return undefined
  return t === '' ? { payload: p } : { topic: t.slice(1), payload: p }
}

export { BrokerError } from '../server/broker'
export type { Broker, FanOut, BrokerStatus } from '../server/broker'
