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

type Listen = 'addEventListener' | 'removeEventListener'
type Target = Record<Listen, (t: string, l: () => void) => void>

export class Tab implements TabLink {
  readonly #id = Math.random().toString(36).slice(2) + Date.now().toString(36)
  /** The leader we follow (its epoch); messages of older leaders are ignored. */
  #epoch = 0
  #sid: string | undefined
  #lastId = 0
  /** Every tab's frames the leader numbered and the server has not answered yet, by session seq: a new leader sends them again. */
  readonly #frames = new Map<number, Numbered>()
  #name = ''
  #bc: BroadcastChannelLike | undefined
  /** Connected: this run's token (a key computed for an earlier run is dropped). */
  #on: object | undefined
  #frozen = false
  #leader: Leader | undefined
  #unlead: (() => void) | undefined
  #waiting: AbortController | undefined
  #unhold: (() => void) | undefined
  /** While leading: a second channel object that hears our own posts (see #delivered). */
  #mirror: BroadcastChannelLike | undefined
  /** The marker on its way (the leader waits for one at a time). */
  #go: (() => void) | undefined
  readonly #locks: LockManagerLike
  readonly #BC: BroadcastChannelConstructor
  /** The share key (async: it may hash the token). */
  readonly #key: () => Promise<string>
  readonly #to: (e: LinkEvent) => unknown
  readonly #make: (tap: EngineTap) => Engine

  constructor(locks: LockManagerLike, BC: BroadcastChannelConstructor, key: () => Promise<string>, to: (e: LinkEvent) => unknown, makeEngine: (tap: EngineTap) => Engine) {
    this.#locks = locks
    this.#BC = BC
    this.#key = key
    this.#to = to
    this.#make = makeEngine
  }

  connect(): void {
    if (this.#on) return
    const run = (this.#on = {})
    this.#status('connecting', 'connect_called')
    void this.#key().then(
      (key) => run === this.#on && this.#start(key),
      (err: Error) => run === this.#on && ((this.#on = undefined), this.#status('closed', 'token_failed', err)),
    )
  }

  send(frames: SequencedClientFrame[]): void {
    this.#toLeader({ t: 'f', p: this.#id, e: this.#epoch, f: frames.map(({ seq, ...x }) => ({ l: seq, x })) })
  }

  close(): void {
    if (!this.#on) return
    this.#toLeader({ t: 'b', p: this.#id })
    this.#stop()
    this.#resign(true)
  }

  #status(status: 'connecting' | 'closed', reason: 'connect_called' | 'token_failed', error?: Error): void {
    this.#to({ t: 'status', s: { status, transport: null, reason, attempt: 0, error } })
  }

  // ------------------------------------------------------------------ membership and election

  #start(key: string): void {
    const bc = (this.#bc = new this.#BC((this.#name = `surewire/2 ${key}`)))
    bc.onmessage = (e) => this.#onBus(e.data as Bus)
    // Held for as long as this tab is connected: the leader counts live tabs by these locks.
    this.#locks.request(`${this.#name} tab ${this.#id}`, {}, () => new Promise<void>((r) => (this.#unhold = r))).catch(noop)
    this.#life('addEventListener')
    this.#join()
    this.#elect()
  }

  /** The page's lifecycle: `freeze` / `resume` fire on the document, `pagehide` / `pageshow` on the window. */
  #life(m: Listen): void {
    const g = globalThis as unknown as Target & { document?: Target }
    const d = g.document
    if (!d) return
    d[m]('freeze', this.#suspend)
    d[m]('resume', this.#wake)
    g[m]('pagehide', this.#suspend)
    g[m]('pageshow', this.#wake)
  }

  /** Queue for the leader lock; the callback runs when this tab becomes the leader. */
  #elect(): void {
    if (!this.#on || this.#frozen || this.#waiting || this.#leader) return
    this.#locks
      .request(this.#name, { signal: (this.#waiting = new AbortController()).signal }, async () => {
        this.#waiting = undefined
        if (this.#on && !this.#frozen) await new Promise<void>((release) => this.#lead(release))
      })
      .catch(noop)
  }

  #lead(release: () => void): void {
    this.#epoch = Math.max(Date.now(), this.#epoch + 1)
    this.#unlead = release
    this.#leader = new Leader(
      {
        epoch: this.#epoch,
        post: (m) => {
          this.#bc?.postMessage(m)
          queueMicrotask(() => this.#onBus(m)) // to our own client too, never from inside its own call
        },
        ended: () => queueMicrotask(() => this.#resign(false)),
        delivered: (fn) => this.#delivered(fn),
      },
      { sid: this.#sid, lastId: this.#lastId, frames: this.#frames },
      this.#make,
    )
    this.#join()
  }

  /**
   * `fn` once our posts so far reached the browser: our second channel object receives a marker
   * posted after them (channel order is per sender). A bound in case the marker never comes.
   */
  #delivered(fn: () => void): void {
    const k = Math.random()
    const go = (): void => {
      if (this.#go !== go) return
      this.#go = undefined
      clearTimeout(timer)
      fn()
    }
    const timer = setTimeout((this.#go = go), 250)
    ;(this.#mirror ??= new this.#BC(this.#name)).onmessage = (e) => (e.data as { k?: number }).k === k && go()
    this.#bc?.postMessage({ t: 'k', k })
  }

  /** Stop leading. `leaving`: this tab closed (end the session unless another tab is still there). */
  #resign(leaving: boolean): void {
    const leader = this.#leader
    const release = this.#unlead!
    this.#leader = undefined
    if (!leader) return
    this.#mirror?.close()
    this.#mirror = undefined
    // The marker on its way will not come back: its frames stay held (never on this tab's wire;
    // every tab keeps them, and the next leader sends them under their numbers).
    this.#go = undefined
    if (!leaving) {
      leader.stop(false)
      release()
      return this.#elect()
    }
    // Another live tab (its tab lock is held) takes over; the last one ends the session.
    const tabs = `${this.#name} tab `
    void Promise.resolve(this.#locks.query?.())
      .then((q) => q?.held?.some((l) => l.name?.startsWith(tabs) && l.name !== tabs + this.#id))
      .catch(noop) // no answer: end the session (as without `query`)
      .then((others) => {
        leader.stop(!others)
        release()
      })
  }

  readonly #suspend = (): void => {
    // Frozen or put in the back/forward cache: let another tab lead, and do not queue for the lock meanwhile.
    this.#frozen = true
    this.#unqueue()
    this.#resign(false)
  }

  readonly #wake = (): void => {
    this.#frozen = false
    this.#elect()
  }

  #unqueue(): void {
    this.#waiting?.abort()
    this.#waiting = undefined
  }

  /** Leave the group: locks, channel, listeners. */
  #stop(): void {
    this.#on = undefined
    this.#unqueue()
    this.#unhold?.()
    this.#life('removeEventListener')
    const bc = this.#bc
    this.#bc = undefined
    // Let the leader's last answers (our bye included) go out first.
    if (bc) setTimeout(() => bc.close(), this.#leader ? 1_000 : 0)
  }

  #join(): void {
    this.#toLeader({ t: 'j', p: this.#id, topics: this.#to({ t: 'topics' }) as string[] })
  }

  #toLeader(m: Bus): void {
    if (this.#leader) this.#leader.onTab(m)
    else this.#bc?.postMessage(m)
  }

  // ------------------------------------------------------------------ what the leader says

  #onBus(m: Bus): void {
    if (m.t === 'j' || m.t === 'f' || m.t === 'b') return this.#leader?.onTab(m) // a tab to the leader (the leader relays server frames as they came: route by type)
    // Numbers and answers are facts about the session, kept whichever leader posted them: the last
    // ones of a leader that just died can arrive after the next one took over. That one adopts them
    // (under their number) so a frame the server may have is never sent under a new one.
    if (m.t === 's') {
      const f = { p: m.to, l: m.l, x: m.x }
      this.#frames.set(m.s, f)
      if (m.e < this.#epoch) this.#leader?.adopt(m.s, f)
      return
    }
    if (m.t === 'ack' || m.t === 'nack') {
      for (const [seq, f] of this.#frames) if (f.p === m.to && f.l <= m.seq) this.#frames.delete(seq)
      if (this.#on && m.to === this.#id) this.#to({ ...m, error: fromWire(m.error) } as LinkEvent)
      return
    }
    if (!this.#on || m.e < this.#epoch) return // an older leader (frozen, now thawed): ignore it
    if (m.e > this.#epoch) {
      // A new leader: if it is not us, we no longer lead; tell it who we are.
      this.#resign(false)
      this.#epoch = m.e
      this.#join()
    }
    if (m.t === 'status') {
      if (m.to && m.to !== this.#id) return // a reply to another tab's join
      if (m.sid !== this.#sid) this.#frames.clear()
      this.#sid = m.sid
      this.#to({ ...m, s: { ...m.s, error: fromWire(m.s.error) } })
      if (m.s.status === 'closed') this.#stop()
      return
    }
    if (m.t === 'msg') {
      if (m.id <= this.#lastId) return
      this.#lastId = m.id
    } else if (m.t === 'reset') {
      this.#frames.clear()
      if (m.reason === 'session_unknown') this.#lastId = 0
    } else if (m.t !== 'error') return // a marker (see #delivered)
    this.#to(m.t === 'error' ? { ...m, error: fromWire(m.error) } : m)
  }
}
