/**
 * The client's side of `notice` frames (docs/PROTOCOL.md "notice"), against a WebSocket server
 * written here that sends them on cue: the client announces `notices=1`, turns a known reason
 * into a `status` event with the connection still open (`detail`: the code), and ignores a
 * reason it does not know (no status, no error). The reference server's side, during real Redis
 * outages, is test/redis/outage.test.ts.
 */
import type { AddressInfo } from 'node:net'
import { afterEach, expect, it } from 'vitest'
import { WebSocketServer } from 'ws'
import type { StatusEvent } from '../../src'
import { closeClients, makeClient, until } from '../support/servers'

let wss: WebSocketServer | undefined
afterEach(async () => {
  closeClients()
  await new Promise((r) => (wss ? wss.close(r) : r(undefined)))
})

it('announces notices=1; server_degraded / server_recovered become status events while open; an unknown reason is ignored', async () => {
  const urls: string[] = []
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise((r) => wss!.once('listening', r))
  wss.on('connection', (ws, req) => {
    urls.push(req.url ?? '')
    const send = (f: unknown) => ws.send(JSON.stringify(f))
    send({ t: 'hello', sid: 's1', hb: 15_000, resumed: false, maxFrameBytes: 1_048_576 })
    send({ t: 'notice', reason: 'server_on_fire', code: 'x' }) // a reason from a newer server: ignored
    send({ t: 'notice', reason: 'server_degraded', code: 'broker_unavailable', message: 'the server cannot reach Redis' })
    ws.once('message', () => send({ t: 'notice', reason: 'server_recovered' })) // after the client's first frame
  })
  const { port } = wss.address() as AddressInfo
  const c = makeClient(`http://127.0.0.1:${port}/realtime`, { transports: ['websocket'] })
  const statuses: StatusEvent[] = []
  const errors: Error[] = []
  c.on('status', (e) => statuses.push(e))
  c.on('error', (e) => errors.push(e))
  await c.connect()
  await until(() => statuses.some((s) => s.reason === 'server_degraded'), 10_000, 'server_degraded')
  expect(statuses.at(-1)).toMatchObject({ status: 'open', previous: 'open', transport: 'websocket', reason: 'server_degraded', detail: 'broker_unavailable' })
  expect(c.getSnapshot()).toMatchObject({ status: 'open', reason: 'server_degraded', detail: 'broker_unavailable' })
  void c.send({ type: 'chat', text: 'hi' }).catch(() => {}) // never acked by this server; closed with the client
  await until(() => statuses.some((s) => s.reason === 'server_recovered'), 10_000, 'server_recovered')
  expect(c.getSnapshot()).toMatchObject({ status: 'open', reason: 'server_recovered' })
  expect(statuses.map((s) => s.reason)).toEqual(['connect_called', 'opened', 'server_degraded', 'server_recovered'])
  expect(errors).toEqual([])
  expect(new URL(urls[0]!, 'http://x').searchParams.get('notices')).toBe('1')
})
