/**
 * doctor over TLS and through a forward proxy (issues #10 and #13):
 * - ALPN: an https endpoint that negotiates h2 vs one that speaks HTTP/1.1 only, with the
 *   browser's 6-connections-per-host limit explained for the latter (self-signed certificate made
 *   here with openssl, trusted through `ca` / --cacert);
 * - --proxy and HTTP_PROXY / HTTPS_PROXY / NO_PROXY, against a small forward proxy on 127.0.0.1:
 *   plain http in absolute-URI form, WebSocket and https through CONNECT.
 * The Node client takes no forward proxy (neither `ws` nor Node's fetch reads HTTP_PROXY), so
 * there is no client side to compare with here.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http2 from 'node:http2'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRealtimeServer } from '../../src/server'
import { runDoctor, type DoctorReport } from '../../src/cli/doctor'
import { freePort } from '../support/daemon'
import { ClientMessage, ServerMessage } from '../support/schemas'
import { startServer, type TestServer } from '../support/servers'
import { startForwardProxy, type ForwardProxy } from './forward-proxy'

let dir: string
let key: string
let cert: string
const closers: (() => Promise<void>)[] = []
afterAll(async () => {
  await Promise.all(closers.map((c) => c()))
  rmSync(dir, { recursive: true, force: true })
})

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'surewire-doctor-tls-'))
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`openssl could not make a test certificate (apt-get install -y openssl): ${r.stderr}`)
  key = readFileSync(join(dir, 'key.pem'), 'utf8')
  cert = readFileSync(join(dir, 'cert.pem'), 'utf8')
})

/** The reference server on TLS: HTTP/1.1 only (https), or h2 with HTTP/1.1 allowed (the probes speak HTTP/1.1). */
async function tlsServer(kind: 'http1' | 'h2'): Promise<string> {
  const server = (kind === 'h2' ? http2.createSecureServer({ key, cert, allowHTTP1: true }) : https.createServer({ key, cert })) as unknown as Server
  const realtime = createRealtimeServer({ incoming: ClientMessage, outgoing: ServerMessage })
  realtime.attach(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  closers.push(async () => {
    await realtime.close()
    ;(server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
    await new Promise<void>((r) => server.close(() => r()))
  })
  return `https://localhost:${(server.address() as AddressInfo).port}/realtime`
}

const causes = (r: DoctorReport) => r.findings.map((f) => f.cause)

describe('TLS: HTTP/2 or not (issue #10)', () => {
  it('h2 endpoint: ALPN h2, no connection-limit note; HTTP/1.1-only endpoint: the 6-per-host limit explained', async () => {
    const [h2, h1] = await Promise.all([tlsServer('h2'), tlsServer('http1')])
    const [a, b] = await Promise.all([runDoctor(h2, { ca: cert }), runDoctor(h1, { ca: cert })])
    expect([a.transport, a.ok, a.alpn]).toEqual(['websocket', true, 'h2'])
    expect(causes(a)).not.toContain('http1_only')
    expect(a.probes.find((p) => p.name === 'tls')!.detail).toMatch(/ALPN h2/)
    expect([b.transport, b.ok, b.alpn]).toEqual(['websocket', true, 'http/1.1'])
    const note = b.findings.find((f) => f.cause === 'http1_only')!
    expect(note.severity).toBe('info')
    expect(note.message).toMatch(/does not negotiate HTTP\/2.*at most 6 HTTP\/1\.1 connections per host/)
  })

  it('an untrusted certificate is tls_failed unless --cacert trusts it', async () => {
    const url = await tlsServer('h2')
    const r = await runDoctor(url)
    expect([r.ok, r.cause]).toEqual([false, 'tls_failed'])
  })
})

describe('through a forward proxy (issue #13)', () => {
  let target: TestServer
  let proxy: ForwardProxy
  beforeAll(async () => {
    target = await startServer()
    proxy = await startForwardProxy()
    closers.push(() => target.close(), () => proxy.close())
  })

  it('--proxy: plain http in absolute-URI form, the WebSocket through CONNECT; same verdict as direct', async () => {
    const before = { abs: proxy.absolute.length, conn: proxy.connects.length }
    const r = await runDoctor(target.url, { proxy: proxy.url })
    expect([r.transport, r.ok, r.cause, r.via]).toEqual(['websocket', true, null, new URL(proxy.url).host])
    expect(r.probes.find((p) => p.name === 'proxy')!.ok).toBe(true)
    const abs = proxy.absolute.slice(before.abs)
    expect(abs.some((l) => l.startsWith(`GET ${target.url}`))).toBe(true)
    expect(abs.some((l) => l.startsWith(`POST ${target.url}`))).toBe(true)
    expect(proxy.connects.slice(before.conn)).toContain(`127.0.0.1:${target.port}`)
  })

  it('https through CONNECT: TLS, ALPN and every probe inside the tunnel', async () => {
    const url = await tlsServer('h2')
    const before = proxy.connects.length
    const r = await runDoctor(url, { proxy: proxy.url, ca: cert })
    expect([r.transport, r.ok, r.alpn]).toEqual(['websocket', true, 'h2'])
    expect(proxy.connects.length - before).toBeGreaterThanOrEqual(4) // tls, http, websocket, sse, post…
    expect(proxy.connects.slice(before).every((c) => c === `localhost:${new URL(url).port}`)).toBe(true)
  })

  it('HTTP_PROXY from the environment, NO_PROXY exempts the host, --no-proxy ignores it (the CLI)', async () => {
    const run = (env: Record<string, string>, extra: string[] = []) =>
      new Promise<{ code: number | null; report: DoctorReport }>((resolve) => {
        const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'doctor', target.url, '--json', ...extra], { env: { ...process.env, ...env, NO_COLOR: '1' } })
        let out = ''
        p.stdout.on('data', (d: Buffer) => (out += d.toString()))
        p.on('exit', (code) => resolve({ code, report: JSON.parse(out) as DoctorReport }))
      })
    const host = new URL(proxy.url).host
    const [viaEnv, exempt, off] = await Promise.all([
      run({ HTTP_PROXY: proxy.url, NO_PROXY: '' }),
      run({ HTTP_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' }),
      run({ http_proxy: proxy.url }, ['--no-proxy']),
    ])
    expect([viaEnv.code, viaEnv.report.via, viaEnv.report.transport]).toEqual([0, host, 'websocket'])
    expect([exempt.code, exempt.report.via, exempt.report.transport]).toEqual([0, undefined, 'websocket'])
    expect([off.code, off.report.via]).toEqual([0, undefined])
  })

  it('a proxy that cannot be reached: proxy_failed, exit 1', async () => {
    const r = await runDoctor(target.url, { proxy: `http://127.0.0.1:${await freePort()}` })
    expect([r.transport, r.ok, r.cause]).toEqual([null, false, 'proxy_failed'])
  })
})
