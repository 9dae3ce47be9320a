'use client'
import { useState, type FormEvent } from 'react'
import { useLatestMessage, useRealtime, useRealtimeMessage } from 'surewire/react'

/** Re-renders when the status changes, not per message. Server-rendered as `idle`. */
export function Status() {
  const { status, transport, reason } = useRealtime()
  return (
    <p className={`status ${status}`}>
      <span data-testid="status">{status}</span>
      <span data-testid="transport">{transport ?? '–'}</span>
      <span data-testid="reason">{reason ?? '–'}</span>
    </p>
  )
}

/** The latest tick: opts in to one re-render per tick. */
export function Ticker() {
  const tick = useLatestMessage('tick')
  return <output data-testid="tick">{tick ? tick.n : '–'}</output>
}

/** Chat lines kept in local state; `useRealtimeMessage` itself never re-renders. */
export function Chat() {
  const [lines, setLines] = useState<{ from: string; text: string }[]>([])
  const [text, setText] = useState('')
  const { send } = useRealtime()
  useRealtimeMessage('chat', (m) => setLines((l) => [...l, m].slice(-20)))
  const submit = (e: FormEvent) => {
    e.preventDefault()
    if (!text) return
    setText('')
    void send({ type: 'chat', text }).catch(() => {})
  }
  return (
    <>
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
    </>
  )
}
