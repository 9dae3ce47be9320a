import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { RealtimeClient, type TransportKind } from 'surewire'
import { RealtimeProvider } from 'surewire/react'
import { App, type DemoClient } from './App'
import { DemoClientMessage, DemoServerMessage } from './messages'
import { statusLog } from './status-log'

// Options from the query string, so the browser tests can drive each state:
// ?transport=sse forces SSE + POST, ?backoff=<ms> fixes the retry delay, ?strict=0 drops StrictMode.
const params = new URLSearchParams(location.search)
const transports = params.get('transport') ? (params.get('transport')!.split(',') as TransportKind[]) : undefined
const backoffMs = params.get('backoff')

/** Called once, by the provider, when the first component needs the client. */
function createClient(): DemoClient {
  const client = new RealtimeClient({
    url: '/realtime',
    incoming: DemoServerMessage,
    outgoing: DemoClientMessage,
    transports,
    backoff: backoffMs ? () => Number(backoffMs) : undefined,
  })
  statusLog.attach(client)
  return client
}

const app = (
  <RealtimeProvider client={createClient}>
    <App />
  </RealtimeProvider>
)
createRoot(document.getElementById('root')!).render(params.get('strict') === '0' ? app : <StrictMode>{app}</StrictMode>)
