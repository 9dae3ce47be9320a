import { useState, useSyncExternalStore, type FormEvent } from 'react'
import type { RealtimeClient } from 'surewire'
import { useLatestMessage, useRealtime, useRealtimeMessage } from 'surewire/react'
import type { DemoClientMessage, DemoServerMessage } from './messages'
import { statusLog } from './status-log'

export type DemoClient = RealtimeClient<typeof DemoServerMessage, typeof DemoClientMessage>

// Hooks that take the client from <RealtimeProvider> are typed from these schemas.
declare module 'surewire/react' {
  interface Register {
    client: DemoClient
  }
}

/** Re-renders only when the status changes. */
function StatusBar() {
  const { status, transport, reason, attempt } = useRealtime()
  return (
    <div className={`status ${status}`}>
      <span data-testid="status">{status}</span>
      <span data-testid="transport">{transport ?? '–'}</span>
      <span data-testid="reason">{reason ?? '–'}</span>
      {attempt > 0 && <span data-testid="attempt">attempt {attempt}</span>}
    </div>
  )
}

/** Appends chat messages to local state; the hook itself never re-renders the component. */
function Chat() {
  const [lines, setLines] = useState<Extract<DemoServerMessage, { type: 'chat' }>[]>([])
  const [text, setText] = useState('')
  const [error, setError] = useState('')
  const { send } = useRealtime()
  useRealtimeMessage('chat', (m) => setLines((l) => [...l, m].slice(-20)))
  const submit = (e: FormEvent) => {
    e.preventDefault()
    if (!text) return
    setText('')
    send({ type: 'chat', text }).then(
      () => setError(''),
      (err: Error) => setError(err.message),
    )
  }
  return (
    <section>
      <h2>Chat</h2>
      <ul data-testid="messages">
        {lines.map((m, i) => (
          <li key={i}>
            <b>{m.from}</b> {m.text}
          </li>
        ))}
      </ul>
      <form onSubmit={submit}>
        <input data-testid="input" value={text} onChange={(e) => setText(e.target.value)} placeholder="Say something" />
        <button data-testid="send" type="submit">
          Send
        </button>
      </form>
      {error && <p data-testid="send-error">{error}</p>}
    </section>
  )
}

/** Opts in to a re-render per `tick`: shows the latest value. */
function Ticker() {
  const tick = useLatestMessage('tick')
  return (
    <section>
      <h2>Latest tick</h2>
      <output data-testid="tick">{tick ? tick.n : '–'}</output>
    </section>
  )
}

/** Every status event since the client was created, newest last. */
function StatusLog() {
  const log = useSyncExternalStore(statusLog.subscribe, statusLog.get, () => [])
  return (
    <section>
      <h2>Status log</h2>
      <ol data-testid="log">
        {log.map((line, i) => (
          <li key={i}>{line}</li>
        ))}
      </ol>
    </section>
  )
}

export function App() {
  const [live, setLive] = useState(true)
  return (
    <main>
      <header>
        <h1>surewire</h1>
        <button data-testid="toggle" onClick={() => setLive((v) => !v)}>
          {live ? 'Unmount realtime' : 'Mount realtime'}
        </button>
      </header>
      {live ? (
        <>
          <StatusBar />
          <div className="columns">
            <Chat />
            <div>
              <Ticker />
              <StatusLog />
            </div>
          </div>
        </>
      ) : (
        <p data-testid="unmounted">No component uses the connection, so it is closed.</p>
      )}
    </main>
  )
}
