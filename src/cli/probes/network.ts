/** Below HTTP: DNS, a TCP connect and (for https) a TLS handshake, each bounded and timed. */
import { lookup } from 'node:dns/promises'
import net from 'node:net'
import tls from 'node:tls'
import type { Finding, Run } from '../types'
import { timed } from './util'

function resolveHost(host: string, timeoutMs: number) {
  return Promise.race([lookup(host), new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref())])
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port })
    const timer = setTimeout(() => (s.destroy(), reject(new Error(`no TCP connection within ${timeoutMs} ms`))), timeoutMs)
    s.once('connect', () => (clearTimeout(timer), s.destroy(), resolve()))
    s.once('error', (e) => (clearTimeout(timer), reject(e)))
  })
}

/** Resolves with a line about the protocol and certificate; rejects when the certificate is not trusted. */
function tlsConnect(host: string, port: number, servername: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, servername: net.isIP(servername) ? undefined : servername, rejectUnauthorized: false })
    const timer = setTimeout(() => (s.destroy(), reject(new Error(`no TLS handshake within ${timeoutMs} ms`))), timeoutMs)
    s.once('secureConnect', () => {
      clearTimeout(timer)
      const cert = s.getPeerCertificate()
      const authorized = s.authorized
      const why = s.authorizationError
      s.destroy()
      if (!authorized) return reject(new Error(`certificate not trusted: ${String(why)} (subject ${cert?.subject?.CN ?? '?'})`))
      resolve(`${s.getProtocol() ?? 'TLS'}, certificate for ${cert?.subject?.CN ?? '?'} valid until ${cert?.valid_to ?? '?'}`)
    })
    s.once('error', (e) => (clearTimeout(timer), reject(e)))
  })
}

/** DNS, TCP, TLS in turn. False (with the finding added) at the first that fails: nothing above it can work. */
export async function probeNetwork(run: Run): Promise<boolean> {
  const { probes, timeoutMs } = run
  const add = (f: Finding) => run.findings.push(f)
  const httpUrl = run.ep.sse
  const host = httpUrl.hostname.replace(/^\[|\]$/g, '')
  const port = Number(httpUrl.port || (httpUrl.protocol === 'https:' ? 443 : 80))

  const [addr, dnsMs] = await timed(() => resolveHost(host, timeoutMs))
  if (addr instanceof Error) {
    probes.push({ name: 'dns', ok: false, ms: dnsMs, detail: addr.message })
    add({ cause: 'dns_failed', severity: 'error', message: `${host} does not resolve: ${addr.message}. Check the hostname baked into the client build.`, fixes: [] })
    return false
  }
  probes.push({ name: 'dns', ok: true, ms: dnsMs, detail: `${host} → ${addr.address}` })

  const [tcp, tcpMs] = await timed(() => tcpConnect(addr.address, port, timeoutMs))
  if (tcp instanceof Error) {
    probes.push({ name: 'tcp', ok: false, ms: tcpMs, detail: `${addr.address}:${port}: ${tcp.message}` })
    add({ cause: 'tcp_failed', severity: 'error', message: `Nothing accepts connections on ${addr.address}:${port} (${tcp.message}). Wrong port in the client's URL, or the server/proxy is down.`, fixes: [] })
    return false
  }
  probes.push({ name: 'tcp', ok: true, ms: tcpMs, detail: `${addr.address}:${port}` })

  if (httpUrl.protocol !== 'https:') {
    probes.push({ name: 'tls', ok: null, detail: 'not https' })
    return true
  }
  const [t, tlsMs] = await timed(() => tlsConnect(addr.address, port, host, timeoutMs))
  if (t instanceof Error) {
    probes.push({ name: 'tls', ok: false, ms: tlsMs, detail: t.message })
    add({ cause: 'tls_failed', severity: 'error', message: `TLS to ${host}:${port} failed: ${t.message}`, fixes: [] })
    return false
  }
  probes.push({ name: 'tls', ok: true, ms: tlsMs, detail: t })
  return true
}
