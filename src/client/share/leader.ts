/**
 * The leader tab's side: it runs the one real RealtimeClient (the engine) for every tab of the
 * share key, numbers every tab's frames in the session's one `seq` space, routes acks and nacks
 * back to the tab that sent the frame, keeps the union of the tabs' topics on the server, and
 * broadcasts status, messages, errors and resets. docs/TABS.md describes the design.
 */
import { utf8Length, type HelloFrame } from '../../protocol'
import type { StatusEvent } from '../status'
import { Outbox } from '../outbox'
import type { EngineTap } from './types'
import { toWire, type Bus, type LeaderMessage, type Numbered, type Payload, type TabFrame, type WireStatus } from './wire'

/** What the leader needs of the engine (a RealtimeClient that does not share). */
export interface Engine {
  readonly status: string
  on(event: 'status', l: (e: StatusEvent) => void): unknown
  on(event: 'error', l: (e: Error) => void): unknown
  on(event: 'reset', l: (e: { reason: 'session_unknown' | 'replay_window_exceeded' }) => void): unknown
  connect(): Promise<void>
  close(): void
}

export interface LeaderHost {
  readonly epoch: number
  /** To every tab (the leader's own included). */
  post(m: Bus): void
  /** The engine gave up for good (status `closed`): every tab is told, leadership ends. */
  ended(): void
  /** Call `fn` once everything posted so far has left this tab (another tab would get it even if this one died now). */
  delivered(fn: () => void): void
}

/** One frame of one tab (`p`, its number `l`): `s` its session seq once numbered, `r` its answer (true: accepted). */
interface Item {
  p: string
  l: number
  x: Payload
  s?: number | undefined
  r?: true | Error
}
interface Tab {
  topics: Set<string>
  items: Item[]
  /** Highest frame number `l` received from the tab (resends after a new leader are dropped). */
  last: number
}

type Unstamped = LeaderMessage extends infer M ? (M extends LeaderMessage ? Omit<M, 'e'> : never) : never

export class Leader {
  readonly #tabs = new Map<string, Tab>()
  readonly outbox = new Outbox(Infinity, Infinity) // each tab bounds its own queue
  readonly #host: LeaderHost
  readonly #tap: EngineTap
  readonly #engine: Engine
  /** The session as far as this leader knows it. */
  #sid: string | undefined
  /** Taking over: the session we resume, until its first hello. */
  #resuming: string | undefined
  /** Does the server session hold the topics tabs report when they join (false: a session this leader opened)? */
  #inherited: boolean
  #mf: number | undefined
  #stopped = false
  /** Numbered frames waiting until their numbers have left this tab; only then may they reach the wire. */
  #held: Item[] = []
  /** Taking over: new frames that came before the resumed session's hello; numbered once it is here. */
  #early: Item[] = []
  /** A marker is on its way (see #mark). */
  #marking = false
  /** The engine's last status (none before its first event). */
  #snapshot: WireStatus | undefined

  constructor(host: LeaderHost, session: { sid?: string; lastId: number; frames: Map<number, Numbered> }, makeEngine: (tap: EngineTap) => Engine) {
    this.#host = host
    this.#sid = this.#resuming = session.sid
    this.#inherited = !!session.sid
    this.#tap = { sid: session.sid, lastId: session.lastId, outbox: this.outbox, hello: (h) => this.#hello(h), msg: (f) => this.#post(f) }
    // Taking over: every frame the previous leader numbered and nobody has answered yet goes out again
    // with its number, whoever sent it (the server answers those it has from its record); new ones follow.
    for (const seq of [...session.frames.keys()].sort((a, b) => a - b)) this.#take(seq, session.frames.get(seq)!)
    const e = (this.#engine = makeEngine(this.#tap))
    e.on('status', (ev) => {
      const { previous: _, error, ...s } = ev
      this.#post({ t: 'status', s: (this.#snapshot = { ...s, error: toWire(error) }), sid: this.#sid, maxFrameBytes: this.#mf })
      if (ev.status === 'closed' && !this.#stopped) {
        this.#stopped = true
        host.ended()
      }
    })
    e.on('error', (err) => e.status === 'closed' || this.#post({ t: 'error', error: toWire(err)! }))
    e.on('reset', (r) => this.#post({ t: 'reset', reason: r.reason }))
    void e.connect()
  }

  /** A message from a tab (the leader's own tab included). */
  onTab(m: Bus): void {
    if (this.#stopped) return
    if (m.t === 'j') {
      const tab = this.#tab(m.p)
      for (const t of m.topics) {
        if (!this.#inherited && !this.#has(t)) this.#internal('sub', t)
        tab.topics.add(t)
      }
      // A new leader's engine reports `connecting` at once, so every tab hears of it; a tab joining later gets the status.
      if (this.#snapshot) this.#post({ t: 'status', to: m.p, s: this.#snapshot, sid: this.#sid, maxFrameBytes: this.#mf })
      return
    }
    if (m.t === 'f') {
      // Frames meant for another leader: the tab resends them to us once our status reaches it, in order.
      if (m.e !== this.#host.epoch) return
      for (const f of m.f) this.#frame(m.p, f)
    } else if (m.t === 'b') {
      const { topics } = this.#tab(m.p)
      this.#tabs.delete(m.p)
      for (const t of topics) if (!this.#has(t)) this.#internal('unsub', t)
    }
    this.#tap.flush?.()
  }

  /** Stop: `end` ends the session (the last tab left); otherwise another tab resumes it. */
  stop(end: boolean): void {
    if (this.#stopped) return
    this.#stopped = true
    if (end) this.#engine.close()
    else this.#tap.detach?.()
  }

  #post(m: Unstamped): void {
    if (this.#stopped) return
    ;(m as LeaderMessage).e = this.#host.epoch
    this.#host.post(m as LeaderMessage)
  }

  #tab(p: string): Tab {
    let tab = this.#tabs.get(p)
    if (!tab) this.#tabs.set(p, (tab = { topics: new Set(), items: [], last: 0 }))
    return tab
  }

  #has(topic: string): boolean {
    return [...this.#tabs.values()].some((tab) => tab.topics.has(topic))
  }

  #frame(p: string, { l, x }: TabFrame): void {
    const tab = this.#tab(p)
    if (l <= tab.last) return // already here (a resend after the status went open again, or taken over)
    tab.last = l
    const item: Item = { p, l, x }
    if (x.t !== 'msg') {
      const sub = x.t === 'sub'
      if (!sub) tab.topics.delete(x.topic)
      // Another tab holds the topic on the server already (sub), or still needs it (unsub): nothing to send.
      const needed = !this.#has(x.topic)
      if (sub) tab.topics.add(x.topic)
      if (!needed) {
        tab.items.push(item)
        return this.#settle(item, true)
      }
    }
    this.#queue(tab, item)
  }

  /** A frame the previous leader numbered, heard of late: queue it under that number unless its tab resent it already. */
  adopt(seq: number, f: Numbered): void {
    if (this.#stopped || f.l <= this.#tab(f.p).last) return
    this.#take(seq, f)
    this.#tap.flush?.()
  }

  /** Queue a frame a previous leader numbered `seq`, under that number. */
  #take(s: number, f: Numbered): void {
    const tab = this.#tab(f.p)
    tab.last = Math.max(tab.last, f.l)
    if (s >= this.outbox.nextSeq) this.outbox.continueAt(s + 1)
    this.#queue(tab, { ...f, s })
  }

  /** Number a frame and queue it (`s` already set when a previous leader numbered it). */
  #queue(tab: Tab, item: Item): void {
    tab.items.push(item)
    // Every tab learns the number (and keeps the frame) before the frame can reach the wire:
    // should this tab die, the next leader sends it again under the same number.
    // A frame whose number only this tab knew could reach the server and then, this tab dead, go again
    // under a new number: hold it until the number has left the tab (a BroadcastChannel post is sent
    // asynchronously, a WebSocket write may be faster).
    if (item.s !== undefined) return this.#push(item)
    // Taking over: numbers of the dead leader may still be on their way to this tab; new numbers wait
    // for the session's hello (`seq`: what the server consumed), nothing reaches the wire before it anyway.
    if (this.#resuming !== undefined) return void this.#early.push(item)
    this.#number(item)
  }

  #number(item: Item): void {
    const s = (item.s = this.outbox.nextSeq)
    this.outbox.continueAt(s + 1) // reserved
    this.#post({ t: 's', to: item.p, l: item.l, s, x: item.x })
    this.#held.push(item)
    if (!this.#marking) this.#mark()
  }

  /**
   * Release the held frames once their numbers have left this tab. One marker covers only the
   * numbers posted before it: a frame numbered while a marker is on its way waits for the next one
   * (released with the earlier batch, its number could still be inside this tab when the frame
   * reaches the wire, and a crash then would send it again under a new number).
   */
  #mark(): void {
    const covered = this.#held.length
    this.#marking = true
    this.#host.delivered(() => {
      this.#marking = false
      for (const item of this.#held.splice(0, covered)) this.#push(item)
      this.#tap.flush?.()
      if (this.#held.length && !this.#stopped) this.#mark()
    })
  }

  #push(item: Item): void {
    if (this.#stopped) return
    const x = item.x
    // Serialise once: the outbox keeps the JSON of `d` for the codec (as the client's own send() does).
    const json = x.t === 'msg' ? JSON.stringify(x.d) : undefined
    this.outbox.push(x, utf8Length(json ?? JSON.stringify(x)) + 32, item.s, json).then(
      () => this.#settle(item, true),
      (err: Error) => this.#settle(item, err),
    )
  }

  /** A sub/unsub the union needs, sent on no tab's behalf (owner ''). */
  #internal(t: 'sub' | 'unsub', topic: string): void {
    const tab = this.#tab('')
    this.#queue(tab, { p: '', l: ++tab.last, x: { t, topic } })
  }

  /** Settle one tab's frame; answers go back in the tab's own order (the next leader answers once this one stopped: the tabs resend). */
  #settle(item: Item, r: true | Error): void {
    item.r = r
    const tab = this.#tabs.get(item.p)
    while (tab?.items[0]?.r !== undefined) {
      const { p, l, r } = tab.items.shift()!
      this.#post({ t: r === true ? 'ack' : 'nack', to: p, seq: l, error: toWire(r) })
    }
  }

  #hello(h: HelloFrame): void {
    this.#mf = h.maxFrameBytes
    const resuming = this.#resuming
    this.#resuming = undefined
    if (h.sid === resuming) {
      // Taking over: new frames are numbered after everything the server (or the previous leader) numbered.
      this.outbox.continueAt(Math.max(h.seq ?? 0, this.outbox.nextSeq - 1) + 1)
      for (const item of this.#early.splice(0)) this.#number(item)
    } else if (this.#sid !== undefined && h.sid !== this.#sid) {
      // A new session knows none of the tabs' topics (the engine renumbers the outbox next).
      this.#inherited = false
      for (const item of this.#held) item.s = undefined // numbered afresh in the new session
      for (const item of this.#early.splice(0)) this.#push(item)
      for (const t of new Set([...this.#tabs.values()].flatMap((tab) => [...tab.topics]))) this.#internal('sub', t)
    }
    this.#sid = h.sid
  }
}
