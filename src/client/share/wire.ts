/**
 * The messages tabs exchange over the BroadcastChannel (docs/TABS.md has the prose). Every message
 * from the leader carries its epoch `e`: a tab ignores messages from an older leader. The channel and
 * the locks are named `surewire/2 <key>` (tab.ts): `/2` is this format, so a tab still running an
 * older bundle (another format) never joins these tabs; it keeps its own connection instead.
 */
import { AuthError, ConfigError, RejectedError, ServerRefusalError, SurewireError, ValidationError } from '../../errors'
import type { ClientSnapshot } from '../status'

export type Payload = { t: 'msg'; d: unknown } | { t: 'sub' | 'unsub'; topic: string }

/** A frame a tab hands the leader: its own number `l` and the frame `x`. */
export interface TabFrame {
  l: number
  x: Payload
}

/** A frame the leader numbered, as every tab keeps it until it is answered: the owner tab `p` ('' for the leader's own), its number `l`, the frame. */
export interface Numbered {
  p: string
  l: number
  x: Payload
}

export type WireError = Record<string, unknown> & { name: string; message: string }
export type WireStatus = Omit<ClientSnapshot, 'error'> & { error?: WireError }

export type Bus =
  // a tab → the leader
  | { t: 'j'; p: string; topics: string[] }
  /** `e`: the leader the tab sends to; another leader drops them (the tab resends once it hears from it). */
  | { t: 'f'; p: string; e: number; f: TabFrame[] }
  | { t: 'b'; p: string }
  // the leader → tabs
  // (status, msg, error, reset: shaped as the LinkEvent the tab's client gets, plus `e`)
  | { t: 'status'; e: number; to?: string; s: WireStatus; sid?: string; maxFrameBytes?: number }
  | { t: 'msg'; e: number; id: number; topic?: string; d: unknown }
  /** Frame `l` of tab `to` has session seq `s` (sent before the frame can reach the wire; every tab keeps it until answered). */
  | { t: 's'; e: number; to: string; l: number; s: number; x: Payload }
  /** Frames up to `seq` of tab `to` are answered (`nack`: frame `seq` was rejected, with `error`). */
  | { t: 'ack' | 'nack'; e: number; to: string; seq: number; error?: WireError | undefined }
  | { t: 'error'; e: number; error: WireError }
  | { t: 'reset'; e: number; reason: 'session_unknown' | 'replay_window_exceeded' }

/** An error as plain data (structured clone keeps only name and message of an Error); anything else (no error, `true`): undefined. */
export function toWire(err: unknown): WireError | undefined {
  return err instanceof Error ? { ...err, name: err.name, message: err.message } : undefined
}

const classes: Record<string, { prototype: Error }> = { RejectedError, AuthError, ServerRefusalError, ConfigError, ValidationError }

/** The error again, of its class (`instanceof RejectedError` holds in every tab); undefined stays undefined. */
export function fromWire<X extends WireError | undefined>(x: X): X extends WireError ? Error : undefined
export function fromWire(x: WireError | undefined): Error | undefined {
  return x && Object.assign(Object.create((classes[x.name] ?? SurewireError).prototype) as Error, x)
}

/** What the leader posts (each stamped with its epoch). */
export type LeaderMessage = Extract<Bus, { e: number }>
