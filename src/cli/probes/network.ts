/**
 * Below HTTP: DNS, a TCP connect and (for https) a TLS handshake offering h2 and http/1.1, each
 * bounded and timed. Through a forward proxy: a TCP connect to the proxy instead (it resolves
 * and connects to the target), and the TLS handshake inside a CONNECT tunnel.
 */
import { lookup } from 'node:dns/promises'
import net from 'node:net'
import tls from 'node:tls'
import type { Finding, Run } from '../types'
import { TunnelError } from './dial'
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

interface TlsInfo {
  line: string
  /** The protocol ALPN chose: 'h2' or 'http/1.1' (or undefined when the server did not take part). */
  alpn: string | undefined
}

/** Resolves with the protocol, ALPN and certificate; rejects when the certificate is not trusted. */
function tlsConnect(run: Run, url: URL): Promise<TlsInfo> {
  return run.dial.socket(url).then(
    (raw) =>
      new Promise<TlsInfo>((resolve, reject) => {
        const s = tls.connect({ socket: raw, ...run.dial.tlsOptions(url, ['h2', 'http/1.1']), rejectUnauthorized: false })
        const timer = setTimeout(() => (s.destroy(), reject(new Error(`no TLS handshake within ${run.timeoutMs} ms`))), run.timeoutMs)
        s.once('secureConnect', () => {
          clearTimeout(timer)
          const cert = s.getPeerCertificate()
          const { authorized, authorizationError: why } = s
          const alpn = s.alpnProtocol || undefined
          const proto = s.getProtocol() ?? 'TLS'
          s.destroy()
          if (!authorized) return reject(new Error(`certificate not trusted: ${String(why)} (subject ${cert?.subject?.CN ?? '?'})`))
          resolve({ line: `${proto}, ALPN ${alpn ?? '(none)'}, certificate for ${cert?.subject?.CN ?? '?'} valid until ${cert?.valid_to ?? '?'}`, alpn })
        })
        s.once('error', (e) => (clearTimeout(timer), reject(e)))
      }),
  )
}

/** DNS and TCP of the forward proxy; false (with the finding) when it cannot be reached. */
async function probeProxy(run: Run, proxy: URL): Promise<boolean> {
  const host = proxy.hostname.replace(/^\[|\]$/g, '')
  const port = Number(proxy.port || 80)
  const [r, ms] = await timed(async () => tcpConnect((await resolveHost(host, run.timeoutMs)).address, port, run.timeoutMs))
  if (r instanceof Error) {
    run.probes.push({ name: 'proxy', ok: false, ms, detail: `${proxy.host}: ${r.message}` })
    run.findings.push({ cause: 'proxy_failed', severity: 'error', message: `The forward proxy ${proxy.host} cannot be reached (${r.message}). Check --proxy / HTTPS_PROXY / HTTP_PROXY.`, fixes: [] })
    return false
  }
  run.probes.push({ name: 'proxy', ok: true, ms, detail: `via forward proxy ${proxy.host} (target resolved and connected by the proxy)` })
  return true
}

/** DNS, TCP, TLS in turn. False (with the finding added) at the first that fails: nothing above it can work. */
export async function probeNetwork(run: Run): Promise<boolean> {
  const { probes, timeoutMs } = run
  const add = (f: Finding) => run.findings.push(f)
  const httpUrl = run.ep.sse
  const host = httpUrl.hostname.replace(/^\[|\]$/g, '')
  const port = Number(httpUrl.port || (httpUrl.protocol === 'https:' ? 443 : 80))

  if (run.dial.proxy) {
    if (!(await probeProxy(run, run.dial.proxy))) return false
  } else {
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
  }

  if (httpUrl.protocol !== 'https:') {
    probes.push({ name: 'tls', ok: null, detail: 'not https (browsers speak HTTP/1.1 to http:// URLs)' })
    run.alpn = 'http/1.1'
    return true
  }
  const [t, tlsMs] = await timed(() => tlsConnect(run, httpUrl))
  if (t instanceof Error) {
    probes.push({ name: 'tls', ok: false, ms: tlsMs, detail: t.message })
    const viaProxy = t instanceof TunnelError
    add({ cause: viaProxy ? 'proxy_failed' : 'tls_failed', severity: 'error', message: viaProxy ? `The forward proxy did not open a tunnel to ${host}:${port}: ${t.message}.` : `TLS to ${host}:${port} failed: ${t.message}`, fixes: [] })
    return false
  }
  run.alpn = t.alpn ?? 'http/1.1'
  probes.push({ name: 'tls', ok: true, ms: tlsMs, detail: t.line })
  return true
}
