/**
 * doctor decides from codes and outcomes, never from message text (issue #11 item 3): the
 * reference server behind a small edge that answers the WebSocket handshake itself, with a
 * protocol error body whose message is reworded, or with a status and no protocol body.
 */
import type { Server } from 'node:http'
import { afterEach, expect, it } from 'vitest'
import { runDoctor } from '../src/cli/doctor'
import { startServer, type TestServer } from './support/servers'

let edge: Server | undefined
let backend: TestServer | undefined
afterEach(async () => {
  edge?.closeAllConnections()
  await new Promise<void>((r) => (edge ? edge.close(() => r()) : r()))
  await backend?.close()
  edge = backend = undefined
})

/** HTTP goes to the reference server (attached to the same node:http server); upgrades get `answer`. */
async function withUpgradeAnswer(answer: string): Promise<string> {
  backend = await startServer()
  edge = backend.http
  edge.removeAllListeners('upgrade')
  edge.on('upgrade', (_req, socket) => socket.end(answer))
  return backend.url
}

it('a reworded 426 message with the code upgrade_headers_dropped is still upgrade_headers_dropped', async () => {
  const body = JSON.stringify([{ t: 'error', code: 'upgrade_headers_dropped', message: 'entirely different words' }])
  const url = await withUpgradeAnswer(`HTTP/1.1 426 Upgrade Required\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
  const r = await runDoctor(url)
  expect([r.transport, r.ok, r.cause]).toEqual(['sse', true, 'upgrade_headers_dropped'])
  expect(r.findings[0]!.message).toMatch(/reached the surewire server/)
})

it('401 / 403 on the upgrade without a protocol error is a refused upgrade (ws_refused), not an auth failure', async () => {
  for (const status of ['401 Unauthorized', '403 Forbidden']) {
    const url = await withUpgradeAnswer(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nForbidden`)
    const r = await runDoctor(url)
    expect([r.transport, r.ok, r.cause], status).toEqual(['sse', true, 'ws_refused'])
    expect(r.findings.map((f) => f.cause)).not.toContain('auth_required')
    edge?.closeAllConnections()
    await backend?.close()
  }
  edge = backend = undefined
})

it('an error frame with code unauthorized after the upgrade is auth_required', async () => {
  backend = await startServer({ authenticate: () => null } as object)
  const r = await runDoctor(backend.url)
  expect(r.ok).toBe(false)
  expect(r.cause).toBe('auth_required')
})
