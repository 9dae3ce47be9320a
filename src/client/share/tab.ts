/**
 * One tab's client in a group of tabs sharing one connection: it takes part in the leader
 * election (Web Locks), talks to the leader over a BroadcastChannel, and hands its client what the
 * leader reports. When the lock comes to it, it becomes the leader (leader.ts) and resumes the
 * session where the previous leader left it. docs/TABS.md describes the design.
 */
import type { SequencedClientFrame } from '../../protocol'
import { Leader, type Engine } from './leader'
import type { BroadcastChannelConstructor, BroadcastChannelLike, EngineTap, LinkEvent, LockManagerLike, TabLink } from './types'
import { fromWire, type Bus, type Numbered } from './wire'
import { noop } from '../outbox'

export interface TabEnv {
  locks: LockManagerLike
  BroadcastChannel: BroadcastChannelConstructor
  /** The share key (async: it may hash the token). */
  key(): Promise<string>
  /** The page's lifecycle events (`freeze`, `resume`, `pagehide`, `pageshow`), where there is a document. */
  target?: { addEventListener(t: string, l: () => void): void; removeEventListener(t: string, l: () => void): void }
}

const randomId = () => Math.random().toString(36).slice(2) + Date.now().toString(36)

export class Tab implements TabLink {
  readonly id = randomId()
  /** The leader we follow (its epoch); messages of older leaders are ignored. */
  epoch = 0
  #sid: string | undefined
  #lastId = 0
  /** Every tab's frames the leader numbered and the server has not answered yet, by session seq: a new leader sends them again. */
  readonly #frames = new Map<number, Numbered>()
  #name = ''
  #bc: BroadcastChannelLike | undefined
  #on = false
  #frozen = false
  #run = 0
  #leader: Leader | undefined
  #unlead: (() => void) | undefined
  #waiting: AbortController | undefined
  #unhold: (() => void) | undefined
  /** While leading: a second channel object that hears our own posts (see #delivered). */
  #mirror: BroadcastChannelLike | undefined
  #marks = 0
  readonly #waits = new Map<number, () => void>()

  constructor(
    private readonly env: TabEnv,
    private readonly to: (e: LinkEvent) => unknown,
    private readonly makeEngine: (tap: EngineTap) => Engine,
  ) {}

  connect(): void {
    if (this.#on) return
    this.#on = true
    const run = ++this.#run
    this.to({ t: 'status', s: { status: 'connecting', transport: null, reason: 'connect_called', attempt: 0 } })
    void this.env.key().then(
      (key) => run === this.#run && this.#start(key),
      (err: Error) => run === this.#run && this.#fail(err),
    )
  }

  send(frames: SequencedClientFrame[]): void {
    const m: Bus = { t: 'f', p: this.id, e: this.epoch, f: frames.map(({ seq, ...x }) => ({ l: seq, x })) }
    this.#toLeader(m)
  }

  close(): void {
    if (!this.#on) return
    this.#toLeader({ t: 'b', p: this.id })
    this.#stop()
    this.#resign(true)
  }

  // ------------------------------------------------------------------ membership and election

  #start(key: string): void {
    this.#name = `surewire ${key}`
    const bc = (this.#bc = new this.env.BroadcastChannel(this.#name))
    bc.onmessage = (e) => this.#onBus(e.data as Bus)
    // Held for as long as this tab is connected: the leader counts live tabs by these locks.
    this.env.locks.request(`${this.#name} tab ${this.id}`, {}, () => new Promise<void>((r) => (this.#unhold = r))).catch(noop)
    this.env.target?.addEventListener('freeze', this.#suspend)
    this.env.target?.addEventListener('pagehide', this.#suspend)
    this.env.target?.addEventListener('resume', this.#wake)
    this.env.target?.addEventListener('pageshow', this.#wake)
    this.#join()
    this.#elect()
  }

  #fail(err: Error): void {
    this.#on = false
    this.to({ t: 'status', s: { status: 'closed', transport: null, reason: 'token_failed', attempt: 0, error: err } })
  }

  /** Queue for the leader lock; the callback runs when this tab becomes the leader. */
  #elect(): void {
    if (!this.#on || this.#frozen || this.#waiting || this.#leader) return
    const ac = (this.#waiting = new AbortController())
    this.env.locks
      .request(this.#name, { signal: ac.signal }, () => {
        this.#waiting = undefined
        return this.#on && !this.#frozen ? new Promise<void>((release) => this.#lead(release)) : Promise.resolve()
      })
      .catch(noop)
  }

  #lead(release: () => void): void {
    this.epoch = Math.max(Date.now(), this.epoch + 1)
    this.#unlead = release
    this.#leader = new Leader(
      {
        epoch: this.epoch,
        post: (m) => {
          this.#bc?.postMessage(m)
          queueMicrotask(() => this.#onBus(m)) // to our own client too, never from inside its own call
        },
        ended: () => queueMicrotask(() => this.#resign(false)),
        delivered: (fn) => this.#delivered(fn),
      },
      { sid: this.#sid, lastId: this.#lastId, frames: this.#frames },
      this.makeEngine,
    )
    this.#join()
  }

  /**
   * `fn` once our posts so far reached the browser: our second channel object receives a marker
   * posted after them (channel order is per sender). A bound in case the marker never comes.
   */
  #delivered(fn: () => void): void {
    const n = ++this.#marks
    let mirror = this.#mirror
    if (!mirror) {
      mirror = this.#mirror = new this.env.BroadcastChannel(this.#name)
      mirror.onmessage = (e) => this.#waits.get((e.data as { k?: number }).k!)?.()
    }
    const go = () => {
      if (!this.#waits.delete(n)) return
      clearTimeout(timer)
      fn()
    }
    const timer = setTimeout(go, 250)
    this.#waits.set(n, go)
    this.#bc?.postMessage({ t: 'k', k: n })
  }

  /** Stop leading. `leaving`: this tab closed (end the session unless another tab is still there). */
  #resign(leaving: boolean): void {
    const leader = this.#leader
    const release = this.#unlead
    this.#leader = this.#unlead = undefined
    if (!leader) return
    this.#mirror?.close()
    this.#mirror = undefined
    for (const go of [...this.#waits.values()]) go()
    if (!leaving) {
      leader.stop(false)
      release?.()
      return this.#elect()
    }
    // Another live tab (its tab lock is held) takes over; the last one ends the session.
    const mine = `${this.#name} tab ${this.id}`
    const query = this.env.locks.query?.() ?? Promise.resolve({ held: leader.others > 0 ? [{ name: '' }] : [] })
    void query
      .then((q) => q.held?.some((l) => l.name?.startsWith(`${this.#name} tab `) && l.name !== mine))
      .catch(() => leader.others > 0)
      .then((others) => {
        leader.stop(!others)
        release?.()
      })
  }

  readonly #suspend = (): void => {
    // Frozen or put in the back/forward cache: let another tab lead, and do not queue for the lock meanwhile.
    this.#frozen = true
    this.#waiting?.abort()
    this.#waiting = undefined
    this.#resign(false)
  }

  readonly #wake = (): void => {
    this.#frozen = false
    this.#elect()
  }

  /** Leave the group: locks, channel, listeners. */
  #stop(): void {
    this.#on = false
    this.#run++
    this.#waiting?.abort()
    this.#waiting = undefined
    this.#unhold?.()
    this.#unhold = undefined
    for (const t of ['freeze', 'pagehide'] as const) this.env.target?.removeEventListener(t, this.#suspend)
    for (const t of ['resume', 'pageshow'] as const) this.env.target?.removeEventListener(t, this.#wake)
    const bc = this.#bc
    this.#bc = undefined
    // Let the leader's last answers (our bye included) go out first.
    if (bc) setTimeout(() => bc.close(), this.#leader ? 1_000 : 0)
  }

  #join(): void {
    this.#toLeader({ t: 'j', p: this.id, topics: this.to({ t: 'topics' }) as string[] })
  }

  #toLeader(m: Bus): void {
    if (this.#leader) this.#leader.onTab(m)
    else this.#bc?.postMessage(m)
  }

  // ------------------------------------------------------------------ what the leader says

  /**
   * Numbers and answers are facts about the session, kept whichever leader posted them: the last
   * ones of a leader that just died can arrive after the next one took over. That one adopts them
   * (under their number) so a frame the server may have is never sent under a new one.
   */
  #book(m: Extract<Bus, { t: 's' | 'a' }>): void {
    if (m.t === 's') {
      const f = { p: m.to, l: m.l, x: m.x }
      this.#frames.set(m.s, f)
      if (m.e < this.epoch) this.#leader?.adopt(m.s, f)
      return
    }
    for (const [seq, f] of this.#frames) if (f.p === m.to && f.l <= m.l) this.#frames.delete(seq)
    if (this.#on && m.to === this.id) this.to(m.x ? { t: 'nack', seq: m.l, error: fromWire(m.x) } : { t: 'ack', seq: m.l })
  }

  #onBus(m: Bus): void {
    if (m.t === 'j' || m.t === 'f' || m.t === 'b') return this.#leader?.onTab(m)
    if (m.t === 's' || m.t === 'a') return this.#book(m)
    if (!this.#on || m.e < this.epoch) return // an older leader (frozen, now thawed): ignore it
    if (m.e > this.epoch) {
      // A new leader: if it is not us, we no longer lead; tell it who we are.
      if (this.#leader) this.#resign(false)
      this.epoch = m.e
      this.#join()
    }
    switch (m.t) {
      case 'S':
        if (m.to !== undefined && m.to !== this.id) return
        if (m.sid !== this.#sid) this.#frames.clear()
        this.#sid = m.sid
        this.to({ t: 'status', s: m.s.error ? { ...m.s, error: fromWire(m.s.error) } : (m.s as never), maxFrameBytes: m.mf })
        if (m.s.status === 'closed') this.#stop()
        return
      case 'm':
        if (m.id <= this.#lastId) return
        this.#lastId = m.id
        this.to({ t: 'msg', topic: m.tp, d: m.d })
        return
      case 'E':
        this.to({ t: 'error', error: fromWire(m.x) })
        return
      case 'R':
        this.#frames.clear()
        if (m.r === 'session_unknown') this.#lastId = 0
        this.to({ t: 'reset', reason: m.r })
        return
    }
  }
}
