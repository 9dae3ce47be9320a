'use client'
/**
 * surewire/react: hooks over a RealtimeClient, built on useSyncExternalStore.
 * Importing this module does nothing (no connection, no window access); the first
 * mounted hook connects a managed client.
 */
export { RealtimeProvider, type RealtimeProviderProps } from './provider'
export { useRealtime, useRealtimeMessage, useLatestMessage, useRealtimeClient, type RealtimeState, type ClientArg } from './hooks'
export type {
  AnyRealtimeClient,
  Register,
  RegisteredClient,
  MessageOf,
  MessageOfType,
  MessageType,
  OutgoingOf,
  RealtimeHookOptions,
} from './types'
export type { ClientSnapshot, Status, StatusReason } from '../client/status'
export type { TransportKind } from '../client/transport'
