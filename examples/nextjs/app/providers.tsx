'use client'
import type { ReactNode } from 'react'
import { RealtimeClient, type TransportKind } from 'surewire'
import { RealtimeProvider } from 'surewire/react'
import { ClientMessage, ServerMessage } from '../messages.mjs'

export type AppClient = RealtimeClient<typeof ServerMessage, typeof ClientMessage>

// Hooks below <RealtimeProvider> are typed from the app's schemas.
declare module 'surewire/react' {
  interface Register {
    client: AppClient
  }
}

/**
 * The factory runs once, in the browser, when the first hook mounts: never during server
 * rendering, where the relative URL would have no page to resolve against.
 */
function createClient(): AppClient {
  // ?transport=sse shows the route handler at work (SSE + POST only).
  const only = new URLSearchParams(window.location.search).get('transport')
  return new RealtimeClient({
    url: '/realtime',
    incoming: ServerMessage,
    outgoing: ClientMessage,
    transports: only ? [only as TransportKind] : undefined,
  })
}

export function Providers({ children }: { children: ReactNode }) {
  return <RealtimeProvider client={createClient}>{children}</RealtimeProvider>
}
