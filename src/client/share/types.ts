/**
 * What the tab-sharing layer (src/client/share) and RealtimeClient exchange. Kept apart so
 * client.ts imports only these names and one function.
 */
import type { HelloFrame, MessageFrame, SequencedClientFrame } from '../../protocol'
import type { Outbox } from '../outbox'
import type { ClientSnapshot } from '../status'

/** The subset of the Web Locks API the election uses (`navigator.locks`). */
export interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<void>): Promise<unknown>
  query?(): Promise<{ held?: { name?: string }[] }>
}

/** A BroadcastChannel constructor (the global one in browsers). */
export type BroadcastChannelConstructor = new (name: string) => BroadcastChannelLike
export interface BroadcastChannelLike {
  postMessage(message: unknown): void
  close(): void
  onmessage: ((event: { data: unknown }) => void) | null
}

/** The `shareTabs` option in its object form. */
export interface ShareTabsOptions {
  /**
   * The identity part of the share key. Tabs share one session only when their keys are equal.
   * Set it (e.g. to the user id) when each tab gets a different token for the same user, so
   * that they still share; never set two users to the same key.
   * @default a hash of the token the `token` provider returns at `connect()` (none without one)
   */
  key?: string
  /** The Web Locks API used to elect the leader tab. @default navigator.locks */
  locks?: LockManagerLike
  /** The channel the tabs talk over. @default globalThis.BroadcastChannel */
  BroadcastChannel?: BroadcastChannelConstructor
}

/** What the leader tab reports to one tab's client; `topics` asks the client (it returns the topic list). */
export type LinkEvent =
  | { t: 'status'; s: ClientSnapshot; maxFrameBytes?: number }
  | { t: 'msg'; topic?: string; d: unknown }
  | { t: 'ack'; seq: number }
  | { t: 'nack'; seq: number; error: Error }
  | { t: 'error'; error: Error }
  | { t: 'reset'; reason: 'session_unknown' | 'replay_window_exceeded' }
  | { t: 'topics' }

/** A tab's side of the shared connection, as its RealtimeClient sees it. */
export interface TabLink {
  connect(): void
  /** Frames numbered by this tab's own outbox (per-tab `seq`). */
  send(frames: SequencedClientFrame[]): void
  /** This tab is done; the session ends when the last tab is. */
  close(): void
}

/** Hooks into the RealtimeClient the leader tab runs as the one real connection. */
export interface EngineTap {
  /** Resume this session (a tab taking over). */
  sid?: string
  lastId: number
  /** The session's outbox (every tab's frames, numbered by session `seq`). */
  outbox: Outbox
  /** A hello arrived, before the client adopts it. */
  hello(h: HelloFrame): void
  /** A new (de-duplicated) server message. */
  msg(f: MessageFrame): void
  /** Set by the client: write what the outbox holds. */
  flush?: () => void
  /** Set by the client: stop without ending the session (another tab takes it over). */
  detach?: () => void
}

export const engineTap: unique symbol = Symbol()
