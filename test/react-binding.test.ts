/**
 * The ref-counting under the hooks: the first user connects a client, the last one's release
 * closes it after the current task (StrictMode and Fast Refresh re-mount synchronously).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { retain, userCount, type ClientHandle } from '../src/react/binding'
import { closeClients, makeClient, startServer, until, type TestServer } from './support/servers'

let servers: TestServer[] = []
afterEach(async () => {
  closeClients()
  await Promise.all(servers.map((s) => s.close()))
  servers = []
})

async function setup() {
  const s = await startServer()
  servers.push(s)
  const ended: string[] = []
  s.realtime.on('connection', (conn) => conn.on('close', (e) => ended.push(e.reason)))
  const client = makeClient(s.url)
  const statuses: string[] = []
  client.on('status', (e) => statuses.push(`${e.status}:${e.reason}`))
  const handle: ClientHandle = { get: () => client, manage: true }
  return { s, client, handle, statuses, ended }
}

const nextTask = () => new Promise((r) => setTimeout(r, 0))

describe('retain()', () => {
  it('connects on the first user; an unmount + remount in the same task keeps the connection', async () => {
    const { s, client, handle, statuses } = await setup()
    const release1 = retain(handle)
    const release2 = retain(handle) // a second component
    expect(userCount(client)).toBe(2)
    await client.connect()
    // StrictMode: every effect cleaned up, then set up again, synchronously.
    release1()
    release2()
    const again = retain(handle)
    await nextTask()
    await nextTask()
    expect(client.status).toBe('open')
    expect(statuses).toEqual(['connecting:connect_called', 'open:opened'])
    expect(s.realtime.connections).toHaveLength(1)
    again()
  })

  it('closes after the last user leaves, once the current task is over', async () => {
    const { client, handle, ended } = await setup()
    const release = retain(handle)
    await client.connect()
    release()
    release() // idempotent: one component, one release
    expect(client.status).toBe('open') // not yet: a remount may follow in this task
    await until(() => client.status === 'closed', 5_000, 'close after the last release')
    expect(client.getSnapshot()).toMatchObject({ status: 'closed', reason: 'closed_by_client' })
    await until(() => ended.length === 1, 5_000, 'the server session to end')
    expect(ended).toEqual(['client_closed'])

    const back = retain(handle) // a later mount connects again
    await until(() => client.status === 'open', 5_000, 'reconnect on a new mount')
    back()
  })

  it('leaves an app-owned client alone (manage: false)', async () => {
    const { client } = await setup()
    const release = retain({ get: () => client, manage: false })
    await nextTask()
    expect(client.status).toBe('idle')
    await client.connect()
    release()
    await nextTask()
    expect(client.status).toBe('open')
  })

  it('does not reconnect a client that failed for good while users are still mounted', async () => {
    const { client, handle } = await setup()
    const release = retain(handle)
    await client.connect()
    client.close() // e.g. the app logged out
    const other = retain(handle) // another component mounts
    await nextTask()
    expect(client.status).toBe('closed')
    release()
    other()
  })
})
