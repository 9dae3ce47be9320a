/**
 * The write-through of the Redis session layer (contract S1; docs/RELIABILITY.md "More than one
 * process"): every outbound message of a session homed here is appended to its log stream, and
 * every handled batch of client frames commits its inbound state, before the message reaches a
 * transport or the batch's acks are released. The writes of one tick of EVERY session homed here
 * go out together in one script call (SYNC_LUA; a few when the tick is large), which answers per
 * session: written (delivered now) or fenced (another process holds a newer epoch).
 */
import { BrokerError } from '../server/broker'
import type { Session } from '../server/session'
import { evalScript, type Client } from './eval'
import { SYNC_LUA } from './scripts'

/** Messages a session's log stream keeps at most (by id: MINID; the process's replay bounds trim further on adoption). */
const LOG_MAX_ENTRIES = 10_000
/** Messages one log entry holds at most (a session's batch in one call is one entry up to this: entries stay small enough to trim). */
const ENTRY_MESSAGES = 500
/** Sessions one SYNC_LUA call writes at most (a larger tick is split into calls sent together). */
const BATCH_SESSIONS = 256
/** Bytes of message text one SYNC_LUA call carries at most (one session's batch is never split). */
const BATCH_BYTES = 512 * 1024

export interface Pending {
  id: number
  text: string
  payload: string
  topic: string | undefined
  /** Absent for a fanned-out message (post): nobody waits for it. */
  resolve: (() => void) | undefined
  reject: ((err: unknown) => void) | undefined
}

/** Write-through state of one session homed here. */
export interface Homed {
  ep: string
  pending: Pending[]
  /** The last batch call that carried this session's writes (settles, never rejects). */
  flight: Promise<void>
  /** In the set of sessions the next batch call writes. */
  queued: boolean
  /** The next batch call carries the inbound state too (a commit waits for it). */
  inbound: boolean
  /** Told the outcome of the batch call that carries this session's writes (commit, release). */
  waiters: ((ok: boolean) => void)[]
  /** An outage was announced to this session's client (once per outage). */
  told: boolean
  /**
   * When the next write renews the TTLs of the session's keys (Date.now() ms; 0: with the next
   * write). Until a write that renewed them also appended to the log, the log key may be new
   * (XADD creates it without a TTL), so it stays 0.
   */
  renewAt: number
}

const SETTLED: Promise<void> = Promise.resolve()
export const homed = (ep: string): Homed => ({ ep, pending: [], flight: SETTLED, queued: false, inbound: false, waiters: [], told: false, renewAt: 0 })

/** What the writer needs of the session layer. */
export interface WriterHost {
  readonly main: Client
  /** The broker's fan-out position (saved with every write: where an adopter catches up from). */
  position(): string
  /** How long a session's keys live without a touch (ms, as a string). */
  ttl(): string
  /** A session's keys: hash, log, nacks. */
  keys(sid: string): string[]
  /** The write-through state of a session while it is homed here. */
  state(session: Session): Homed | undefined
  /** Every session homed here. */
  homed(): Iterable<[Session, Homed]>
  /** close() or crash() ran: no more retries, no more reports. */
  closed(): boolean
  /** Another process holds a newer epoch: drop the session here. */
  fenced(session: Session): void
  /** Redis did not take the session's writes: tell its client (once per outage). */
  tell(session: Session, st: Homed): void
  /** Redis took the writes of a session whose client was told it did not: tell it they go through again. */
  recovered(session: Session, st: Homed): void
  report(err: unknown): void
}

/** Joins the frame texts of one log entry: a JSON text never holds a raw control character. */
const SEP = '\x1e'

/**
 * Whether a message may share a log entry: its text holds no {@link SEP}. A frame is msgFrame's
 * JSON around the payload (topic names are JSON-escaped there), so only the payload can, and a
 * fan-out's payload is one string for every session: checked once per distinct payload.
 */
class Joinable {
  #payload: string | undefined
  #ok = false

  test(b: Pending): boolean {
    if (b.payload !== this.#payload) {
      this.#payload = b.payload
      this.#ok = !b.payload.includes(SEP)
    }
    return this.#ok
  }
}

const joined: string[] = []

/**
 * A session's messages as the script reads them: run count R, then R runs of (first id, count C,
 * the C texts joined by {@link SEP}); a run is consecutive ids, at most {@link ENTRY_MESSAGES}
 * (a message whose payload holds SEP is a run of its own).
 */
function messages(batch: Pending[], joinable: Joinable, out: string[]): void {
  const at = out.push('0') - 1
  let runs = 0
  for (let i = 0; i < batch.length; ) {
    let j = i + 1
    if (joinable.test(batch[i]!)) {
      while (j < batch.length && j - i < ENTRY_MESSAGES && batch[j]!.id === batch[j - 1]!.id + 1 && joinable.test(batch[j]!)) j++
    }
    let texts = batch[i]!.text
    if (j - i > 1) {
      for (let k = i; k < j; k++) joined.push(batch[k]!.text)
      texts = joined.join(SEP)
      joined.length = 0
    }
    out.push(String(batch[i]!.id), String(j - i), texts)
    runs++
    i = j
  }
  out[at] = String(runs)
}

/** One session's part of a batch call. */
interface Part {
  session: Session
  st: Homed
  batch: Pending[]
  waiters: ((ok: boolean) => void)[]
  /** This call renews the TTLs (its answer moves `renewAt` on when it also appended to the log). */
  renew?: number
}

const moved = () => new BrokerError('session_moved', 'this session moved to another process')

export class SessionWriter {
  /** Sessions with writes for the next batch call (in the order they were written). */
  readonly #dirty = new Map<Session, Homed>()
  /** The write-through loop (one round of batch calls at a time), while it runs. */
  #loop: Promise<void> = SETTLED
  #running = false
  /** Failed rounds in a row (the retry backoff). */
  #failures = 0
  #down = false
  #retry: ReturnType<typeof setTimeout> | undefined

  constructor(readonly host: WriterHost) {}

  /** Settles when the loop running now has ended. */
  get idle(): Promise<void> {
    return this.#loop
  }

  /** No more retries (a crashed process). */
  stop(): void {
    clearTimeout(this.#retry)
  }

  /** Resolves with the outcome of the next batch call that carries the session's writes (true at once when it has none). */
  written(session: Session, st: Homed): Promise<boolean> {
    if (!st.inbound && st.pending.length === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      st.waiters.push(resolve)
      this.queue(session, st)
    })
  }

  /** The session has writes: they go out with the next batch call (at the end of this tick, or after the one in flight). */
  queue(session: Session, st: Homed): void {
    if (!st.queued) {
      st.queued = true
      this.#dirty.set(session, st)
    }
    if (!this.#running) {
      this.#running = true
      this.#loop = this.#run()
    }
  }

  /**
   * The write-through loop: each round takes every session with writes and sends them in batch
   * calls (split by {@link BATCH_SESSIONS} / {@link BATCH_BYTES}, sent together: a session is in
   * one of them), and the next round starts when they have answered, so a session's writes are
   * never in two calls at once (per-session order, ids persisted in order).
   */
  async #run(): Promise<void> {
    try {
      await SETTLED // after the current synchronous run (a fan-out to every session): its writes are in
      await this.#rounds()
    } finally {
      this.#running = false // at once when the last round ends: a write queued after this starts a new loop
    }
  }

  async #rounds(): Promise<void> {
    while (this.#dirty.size > 0) {
      const calls: Promise<void>[] = []
      let parts: Part[] = []
      let bytes = 0
      for (const [session, st] of this.#dirty) {
        st.queued = false
        const part: Part = { session, st, batch: st.pending.splice(0), waiters: st.waiters.splice(0) }
        if (this.host.state(session) !== st) {
          this.#settle(part, false, moved())
          continue
        }
        for (const b of part.batch) bytes += b.text.length
        parts.push(part)
        if (parts.length >= BATCH_SESSIONS || bytes >= BATCH_BYTES) {
          calls.push(this.#write(parts))
          parts = []
          bytes = 0
        }
      }
      this.#dirty.clear()
      if (parts.length > 0) calls.push(this.#write(parts))
      await Promise.all(calls)
    }
  }

  /** One SYNC_LUA call for `parts` (each session's inbound state taken now); never rejects. */
  #write(parts: Part[]): Promise<void> {
    const keys: string[] = []
    const ttl = this.host.ttl()
    const now = Date.now()
    const body: string[] = []
    const joinable = new Joinable()
    for (const part of parts) {
      const { session, st, batch } = part
      keys.push(...this.host.keys(session.sid))
      const state = st.inbound ? session.inboundState() : undefined
      st.inbound = false
      const renew = now >= st.renewAt
      if (renew && batch.length > 0) part.renew = now + Number(ttl) / 4
      body.push(st.ep, String((state ? 1 : 0) + (renew ? 2 : 0)))
      if (state) {
        body.push(String(state.lastSeq), String(state.forgottenNack), JSON.stringify(state.topics), String(state.nacks.length))
        for (const [seq, nack] of state.nacks) body.push(String(seq), JSON.stringify(nack))
      }
      messages(batch, joinable, body)
    }
    const args = [this.host.position(), ttl, String(LOG_MAX_ENTRIES), ...body]
    const call = evalScript(this.host.main, SYNC_LUA, keys, args)
      .then(
        (res) => this.#answered(parts, res as unknown[]),
        (err: unknown) => this.#failed(parts, err),
      )
      .catch((err: unknown) => this.host.report(err))
    for (const p of parts) p.st.flight = call
    return call
  }

  /** The batch call answered: per session, written (delivered now) or fenced (dropped here; the others are not affected). */
  #answered(parts: Part[], res: unknown[]): void {
    this.#failures = 0
    this.#down = false
    parts.forEach((part, i) => {
      if (Number(res[i]) === 1) {
        if (part.st.told) this.host.recovered(part.session, part.st) // before the held messages go out
        if (part.renew !== undefined) part.st.renewAt = part.renew
        for (const b of part.batch) part.session.committed(b.id, b.text, b.payload, b.topic)
        this.#settle(part, true)
        return
      }
      this.#settle(part, false, moved())
      if (this.host.state(part.session) === part.st) this.host.fenced(part.session)
    })
  }

  /** Resolve (ok) or reject (`err`) a part's messages and tell its waiters. */
  #settle(part: Part, ok: boolean, err?: unknown): void {
    for (const b of part.batch) {
      if (ok) b.resolve?.()
      else b.reject?.(err)
    }
    for (const w of part.waiters) w(ok)
  }

  /**
   * Redis did not take a batch call: its messages are kept, in order, under the same ids, and
   * retried (with backoff) until Redis answers; commits waiting on it are told false (they retry).
   */
  #failed(parts: Part[], err: unknown): void {
    const closed = this.host.closed()
    if (!this.#down && !closed) {
      this.#down = true
      this.host.report(new BrokerError('broker_unavailable', `Redis did not take a session write: ${(err as Error).message}; messages are held and retried`))
    }
    for (const { session, st, batch, waiters } of parts) {
      if (this.host.state(session) !== st) {
        for (const b of batch) b.reject?.(moved())
      } else {
        st.pending.unshift(...batch)
        this.host.tell(session, st)
      }
      for (const w of waiters) w(false)
    }
    if (this.#retry || closed) return
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      for (const [session, st] of this.host.homed()) if (st.pending.length > 0) this.queue(session, st)
    }, Math.min(50 * 2 ** this.#failures++, 2_000))
    ;(this.#retry as { unref?: () => void }).unref?.()
  }
}
