/**
 * surewire/react on the server: rendering (as Next.js does for client components) creates no
 * client from a factory, opens no connection and reads no browser global.
 */
import { createElement as h } from 'react'
import { renderToString } from 'react-dom/server'
import { afterEach, describe, expect, it } from 'vitest'
import { RealtimeProvider, useLatestMessage, useRealtime, useRealtimeClient, useRealtimeMessage } from '../src/react'
import { closeClients, makeClient, startServer, type TestServer } from './support/servers'

let servers: TestServer[] = []
afterEach(async () => {
  closeClients()
  await Promise.all(servers.map((s) => s.close()))
  servers = []
})

type TestClient = ReturnType<typeof makeClient>

/** Uses every hook and prints what it got. */
function View({ client }: { client?: TestClient }) {
  const s = useRealtime(client)
  const tick = useLatestMessage('tick', client)
  useRealtimeMessage('chat', () => {}, client)
  const c = useRealtimeClient(client)
  return h('p', null, `${s.status}|${s.transport}|${s.reason}|${tick ? tick.n : 'none'}|${c === null ? 'no client' : 'client'}`)
}

describe('surewire/react during server rendering', () => {
  it('never calls the provider factory, renders idle, and touches no window', () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined')
    let created = 0
    const factory = () => {
      created++
      return makeClient('/realtime') // a relative URL: would throw on the server
    }
    const html = renderToString(h(RealtimeProvider<TestClient>, { client: factory }, h(View)))
    expect(html).toContain('idle|null|null|none|no client')
    expect(created).toBe(0)
  })

  it('opens no connection for a client passed directly', async () => {
    const s = await startServer()
    servers.push(s)
    let sessions = 0
    s.realtime.on('connection', () => sessions++)
    const client = makeClient(s.url)
    const html = renderToString(h(View, { client }))
    expect(html).toContain('idle|null|null|none|no client')
    expect(client.status).toBe('idle')
    expect(client.listenerCount()).toBe(0) // nothing subscribed on the server either
    expect(sessions).toBe(0)
  })

  it('says what to do when there is neither a provider nor a client', () => {
    expect(() => renderToString(h(View))).toThrow(/useRealtime\(\) found no client: render it inside <RealtimeProvider client=\{…\}>, or pass one/)
  })
})
