/**
 * The leader tab's side: it runs the one real RealtimeClient (the engine) for every tab of the
 * share key, numbers every tab's frames in the session's one `seq` space, routes acks and nacks
 * back to the tab that sent the frame, keeps the union of the tabs' topics on the server, and
 * broadcasts status, messages, errors and resets. docs/TABS.md describes the design.
 */
import { utf8Length, type HelloFrame, type MessageFrame } from '../../protocol'
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

interface Item {
  l: number
  /** true: accepted; an Error: rejected; undefined: waiting. */
  r?: true | Error
}
interface Tab {
  topics: Set<string>
  items: Item[]
  /** Highest frame number `l` received from the tab (resends after a new leader are dropped). */
  last: number
}

export class Leader {
  readonly #tabs = new Map<string, Tab>()
  readonly outbox = new Outbox(Infinity, Infinity) // each tab bounds its own queue
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
  #held: { p: string; item: Item; x: Payload; seq: number | undefined }[] = []
  /** Taking over: new frames that came before the resumed session's hello; numbered once it is here. */
  #early: { p: string; item: Item; x: Payload }[] = []
  /** A marker is on its way (see #mark). */
  #marking = false

  constructor(
    private readonly host: LeaderHost,
    session: { sid?: string; lastId: number; frames: Map<number, Numbered> },
    makeEngine: (tap: EngineTap) => Engine,
  ) {
    this.#sid = this.#resuming = session.sid
    this.#inherited = session.sid !== undefined
    this.#tap = { sid: session.sid, lastId: session.lastId, outbox: this.outbox, hello: (h) => this.#hello(h), msg: (f) => this.#msg(f) }
    // Taking over: every frame the previous leader numbered and nobody has answered yet goes out again
    // with its number, whoever sent it (the server answers those it has from its record); new ones follow.
    const seqs = [...session.frames.keys()].sort((a, b) => a - b)
    for (const seq of seqs) {
      const f = session.frames.get(seq)!
      const tab = this.#tab(f.p)
      tab.last = Math.max(tab.last, f.l)
      this.#queue(f.p, tab, f.l, f.x, seq)
    }
    this.outbox.continueAt((seqs[seqs.length - 1] ?? 0) + 1)
    const e = (this.#engine = makeEngine(this.#tap))
    e.on('status', (ev) => {
      if (this.#stopped) return
      this.#post({ t: 'S', e: 0, s: this.#status(ev), sid: this.#sid, mf: this.#mf })
      if (ev.status === 'closed') {
        this.#stopped = true
        host.ended()
      }
    })
    e.on('error', (err) => this.#stopped || e.status === 'closed' || this.#post({ t: 'E', e: 0, x: toWire(err) }))
    e.on('reset', (r) => this.#stopped || this.#post({ t: 'R', e: 0, r: r.reason }))
    void e.connect()
  }

  /** A message from a tab (the leader's own tab included). */
  onTab(m: Bus): void {
    if (this.#stopped) return
    if (m.t === 'j') {
      const tab = this.#tab(m.p)
      for (const t of m.topics) {
        if (!this.#inherited && !this.#has(t)) this.#internal({ t: 'sub', topic: t })
        tab.topics.add(t)
      }
      this.#post({ t: 'L', e: 0 })
      if (this.#engine.status !== 'idle') this.#post({ t: 'S', e: 0, to: m.p, s: this.#snapshot, sid: this.#sid, mf: this.#mf })
    } else if (m.t === 'f') {
      // Frames meant for another leader: the tab resends them to us once our status reaches it, in order.
      if (m.e !== this.host.epoch) return
      for (const f of m.f) this.#frame(m.p, f)
      this.#tap.flush?.()
    } else if (m.t === 'b') {
      const tab = this.#tabs.get(m.p)
      this.#tabs.delete(m.p)
      for (const t of tab?.topics ?? []) if (!this.#has(t)) this.#internal({ t: 'unsub', topic: t })
      this.#tap.flush?.()
    }
  }

  /** Tabs still joined (by what they said; the host checks their locks too). */
  get others(): number {
    return this.#tabs.size - (this.#tabs.has('') ? 1 : 0)
  }

  /** Stop: `end` ends the session (the last tab left); otherwise another tab resumes it. */
  stop(end: boolean): void {
    if (this.#stopped) return
    this.#stopped = true
    if (end) this.#engine.close()
    else this.#tap.detach?.()
  }

  #snapshot: WireStatus = { status: 'idle', transport: null, reason: null, attempt: 0 }

  #status(ev: StatusEvent): WireStatus {
    const { previous: _, error, ...s } = ev
    return (this.#snapshot = error ? { ...s, error: toWire(error) } : s)
  }

  #post(m: LeaderMessage): void {
    m.e = this.host.epoch
    this.host.post(m)
  }

  #tab(p: string): Tab {
    let tab = this.#tabs.get(p)
    if (!tab) this.#tabs.set(p, (tab = { topics: new Set(), items: [], last: 0 }))
    return tab
  }

  #has(topic: string): boolean {
    for (const tab of this.#tabs.values()) if (tab.topics.has(topic)) return true
    return false
  }

  #frame(p: string, f: TabFrame): void {
    const tab = this.#tab(p)
    if (f.l <= tab.last) return // already here (a resend after the status went open again, or taken over)
    tab.last = f.l
    const x = f.x
    if (x.t !== 'msg') {
      const needed = x.t === 'sub' ? !this.#has(x.topic) : (tab.topics.delete(x.topic), !this.#has(x.topic))
      if (x.t === 'sub') tab.topics.add(x.topic)
      // Another tab holds the topic on the server already (sub), or still needs it (unsub): nothing to send.
      if (!needed) {
        const item: Item = { l: f.l }
        tab.items.push(item)
        return this.#settle(p, item, true)
      }
    }
    this.#queue(p, tab, f.l, x)
  }

  /** A frame the previous leader numbered, heard of late: queue it under that number unless its tab resent it already. */
  adopt(seq: number, f: Numbered): void {
    const tab = this.#tab(f.p)
    if (this.#stopped || f.l <= tab.last) return
    tab.last = f.l
    if (seq >= this.outbox.nextSeq) this.outbox.continueAt(seq + 1)
    this.#queue(f.p, tab, f.l, f.x, seq)
    this.#tap.flush?.()
  }

  /** Number a frame and queue it; `seq` when a previous leader numbered it. */
  #queue(p: string, tab: Tab, l: number, x: Payload, seq?: number): void {
    const item: Item = { l }
    tab.items.push(item)
    // Every tab learns the number (and keeps the frame) before the frame can reach the wire:
    // should this tab die, the next leader sends it again under the same number.
    // A frame whose number only this tab knew could reach the server and then, this tab dead, go again
    // under a new number: hold it until the number has left the tab (a BroadcastChannel post is sent
    // asynchronously, a WebSocket write may be faster).
    if (seq !== undefined) return this.#push(p, item, x, seq)
    // Taking over: numbers of the dead leader may still be on their way to this tab; new numbers wait
    // for the session's hello (`seq`: what the server consumed), nothing reaches the wire before it anyway.
    if (this.#resuming !== undefined) return void this.#early.push({ p, item, x })
    this.#number(p, item, x)
  }

  #number(p: string, item: Item, x: Payload): void {
    const seq = this.outbox.nextSeq
    this.outbox.continueAt(seq + 1) // reserved
    this.#post({ t: 's', e: 0, to: p, l: item.l, s: seq, x })
    this.#held.push({ p, item, x, seq })
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
    this.host.delivered(() => {
      this.#marking = false
      for (const h of this.#held.splice(0, covered)) this.#push(h.p, h.item, h.x, h.seq)
      this.#tap.flush?.()
      if (this.#held.length && !this.#stopped) this.#mark()
    })
  }

  #push(p: string, item: Item, x: Payload, seq: number | undefined): void {
    if (this.#stopped) return
    // Serialise once: the outbox keeps the JSON of `d` for the codec (as the client's own send() does).
    const json = x.t === 'msg' ? JSON.stringify(x.d) : undefined
    this.outbox.push(x, utf8Length(json ?? JSON.stringify(x)) + 32, seq, json).then(
      () => this.#settle(p, item, true),
      (err: Error) => this.#settle(p, item, err),
    )
  }

  /** A sub/unsub the union needs, sent on no tab's behalf (owner ''). */
  #internal(x: { t: 'sub' | 'unsub'; topic: string }): void {
    const tab = this.#tab('')
    this.#queue('', tab, ++tab.last, x)
  }

  /** Settle one tab's frame; answers go back in the tab's own order. */
  #settle(p: string, item: Item, r: true | Error): void {
    if (this.#stopped) return // the next leader answers (the tabs resend)
    item.r = r
    const tab = this.#tabs.get(p)
    while (tab?.items[0]?.r !== undefined) {
      const done = tab.items.shift()!
      this.#post({ t: 'a', e: 0, to: p, l: done.l, ...(done.r === true ? {} : { x: toWire(done.r!) }) })
    }
  }

  #hello(h: HelloFrame): void {
    this.#mf = h.maxFrameBytes
    const resuming = this.#resuming
    this.#resuming = undefined
    if (resuming !== undefined && h.sid === resuming) {
      // Taking over: new frames are numbered after everything the server (or the previous leader) numbered.
      this.outbox.continueAt(Math.max(h.seq ?? 0, this.outbox.nextSeq - 1) + 1)
      for (const f of this.#early.splice(0)) this.#number(f.p, f.item, f.x)
    } else if (this.#sid !== undefined && h.sid !== this.#sid) {
      // A new session knows none of the tabs' topics (the engine renumbers the outbox next).
      this.#inherited = false
      for (const h of this.#held) h.seq = undefined // numbered afresh in the new session
      for (const f of this.#early.splice(0)) this.#push(f.p, f.item, f.x, undefined)
      const union = new Set<string>()
      for (const tab of this.#tabs.values()) for (const t of tab.topics) union.add(t)
      for (const t of union) this.#internal({ t: 'sub', topic: t })
    }
    this.#sid = h.sid
  }

  #msg(f: MessageFrame): void {
    if (!this.#stopped) this.#post({ t: 'm', e: 0, id: f.id, ...(f.topic === undefined ? {} : { tp: f.topic }), d: f.d })
  }
}
