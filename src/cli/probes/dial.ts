/**
 * How every probe reaches the endpoint: directly, or through a forward proxy (`--proxy`, else
 * `HTTPS_PROXY` / `HTTP_PROXY` with `NO_PROXY`, as curl reads them).
 *
 * Through a proxy, plain `http://` requests use the absolute-URI form (`GET http://host/path`);
 * `https://` requests and every WebSocket (also `ws://`, as browsers do) go through a `CONNECT`
 * tunnel.
 */
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'

/** `undefined`: from the environment; `false`: never (also ignores the environment). */
export type ProxySetting = string | false | undefined

type Env = Record<string, string | undefined>

function envValue(env: Env, name: string): string | undefined {
  const v = env[name.toLowerCase()] ?? env[name.toUpperCase()]
  return v === undefined || v.trim() === '' ? undefined : v.trim()
}

/** Does `NO_PROXY` exempt `host:port`? Entries: `*`, `host`, `.suffix` / `suffix`, `host:port`, IPs. */
export function noProxyMatches(noProxy: string | undefined, host: string, port: number): boolean {
  if (!noProxy) return false
  const h = host.toLowerCase().replace(/^\[|\]$/g, '')
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase()
    if (!entry) continue
    if (entry === '*') return true
    const m = /^(.*?)(?::(\d+))?$/.exec(entry)!
    const name = m[1]!.replace(/^\[|\]$/g, '').replace(/^\*?\./, '.')
    if (m[2] && Number(m[2]) !== port) continue
    if (h === name.replace(/^\./, '') || (name.startsWith('.') ? h.endsWith(name) : h.endsWith(`.${name}`))) return true
  }
  return false
}

/** The forward proxy to use for `target`, or undefined for a direct connection. */
export function proxyFor(target: URL, setting: ProxySetting, env: Env = process.env): URL | undefined {
  if (setting === false) return undefined
  const secure = target.protocol === 'https:' || target.protocol === 'wss:'
  const port = Number(target.port || (secure ? 443 : 80))
  const raw = setting ?? (secure ? envValue(env, 'https_proxy') : envValue(env, 'http_proxy')) ?? envValue(env, 'all_proxy')
  if (!raw) return undefined
  if (setting === undefined && noProxyMatches(envValue(env, 'no_proxy'), target.hostname, port)) return undefined
  const u = new URL(raw.includes('://') ? raw : `http://${raw}`)
  if (u.protocol !== 'http:') throw new Error(`only http:// forward proxies are supported, got ${u.protocol}//`)
  return u
}

function proxyAuth(proxy: URL): Record<string, string> {
  if (!proxy.username) return {}
  const creds = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
  return { 'Proxy-Authorization': `Basic ${Buffer.from(creds).toString('base64')}` }
}

/** Why a CONNECT was not answered with 200, as data. */
export class TunnelError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message)
    this.name = 'TunnelError'
  }
}

/** Open a `CONNECT host:port` tunnel through `proxy`; resolves the raw socket once the proxy said 200. */
export function connectTunnel(proxy: URL, host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const authority = `${net.isIPv6(host) ? `[${host}]` : host}:${port}`
    const req = http.request({
      host: proxy.hostname.replace(/^\[|\]$/g, ''),
      port: Number(proxy.port || 80),
      method: 'CONNECT',
      path: authority,
      headers: { Host: authority, ...proxyAuth(proxy) },
      agent: false,
    })
    const timer = setTimeout(() => (req.destroy(), reject(new TunnelError(`the proxy did not answer CONNECT within ${timeoutMs} ms`))), timeoutMs)
    req.once('connect', (res, socket) => {
      clearTimeout(timer)
      if (res.statusCode === 200) return resolve(socket)
      socket.destroy()
      reject(new TunnelError(`the proxy answered CONNECT ${authority} with ${res.statusCode}`, res.statusCode))
    })
    req.once('error', (err) => (clearTimeout(timer), reject(new TunnelError(`proxy ${proxy.host}: ${err.message}`))))
    req.end()
  })
}

/** Options for `http(s).request` plus the module to call it on. */
export interface Dialed {
  mod: typeof http | typeof https
  options: http.RequestOptions
}

/** SNI name: none for IP addresses. */
export function servername(u: URL): string | undefined {
  const h = u.hostname.replace(/^\[|\]$/g, '')
  return net.isIP(h) ? undefined : h
}

const bare = (u: URL) => u.hostname.replace(/^\[|\]$/g, '')

/** One doctor run's way out: the forward proxy (if any) and extra trusted CAs (`--cacert`). */
export class Dialer {
  constructor(
    /** The forward proxy, chosen for the run's target (all endpoints share its scheme and host). */
    readonly proxy: URL | undefined,
    readonly ca: string | undefined,
    private readonly timeoutMs: number,
  ) {}

  private proxyFor(_u: URL): URL | undefined {
    return this.proxy
  }

  /** TLS options as clients use them (certificate checked), `alpn` offered. */
  tlsOptions(u: URL, alpn: string[] = ['http/1.1']): tls.ConnectionOptions {
    return { servername: servername(u), ALPNProtocols: alpn, ...(this.ca ? { ca: this.ca } : {}) }
  }

  /** A raw socket to `u`'s host and port: TCP, or a CONNECT tunnel through the proxy. */
  async socket(u: URL): Promise<net.Socket> {
    const secure = u.protocol === 'https:' || u.protocol === 'wss:'
    const port = Number(u.port || (secure ? 443 : 80))
    const proxy = this.proxyFor(u)
    if (proxy) return connectTunnel(proxy, bare(u), port, this.timeoutMs)
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: bare(u), port })
      const timer = setTimeout(() => (s.destroy(), reject(new Error(`no TCP connection within ${this.timeoutMs} ms`))), this.timeoutMs)
      s.once('connect', () => (clearTimeout(timer), resolve(s)))
      s.once('error', (e) => (clearTimeout(timer), reject(e)))
    })
  }

  /** Connection options for one HTTP request to `u` (no agent: every probe gets its own connection). */
  async http(u: URL, headers: Record<string, string>): Promise<Dialed> {
    const secure = u.protocol === 'https:'
    const proxy = this.proxyFor(u)
    const path = u.pathname + u.search
    if (proxy && !secure) {
      // The absolute-URI form: the proxy makes the request.
      return { mod: http, options: { host: bare(proxy), port: Number(proxy.port || 80), path: u.href, headers: { ...headers, Host: u.host, ...proxyAuth(proxy) }, agent: false } }
    }
    const options: http.RequestOptions = { host: bare(u), port: u.port || (secure ? 443 : 80), path, headers, agent: false }
    if (secure) Object.assign(options, this.tlsOptions(u))
    if (proxy) {
      const secured = tls.connect({ socket: await connectTunnel(proxy, bare(u), Number(u.port || 443), this.timeoutMs), ...this.tlsOptions(u) })
      options.createConnection = () => secured
    }
    return { mod: secure ? https : http, options }
  }

  /** Options for the `ws` library: the tunnel (TLS on top for wss://) when a proxy is in the way; browsers also tunnel ws://. */
  async webSocket(u: URL): Promise<{ createConnection?: () => net.Socket; ca?: string }> {
    const proxy = this.proxyFor(u)
    const ca = this.ca ? { ca: this.ca } : {}
    if (!proxy) return ca
    const raw = await connectTunnel(proxy, bare(u), Number(u.port || (u.protocol === 'wss:' ? 443 : 80)), this.timeoutMs)
    const conn = u.protocol === 'wss:' ? tls.connect({ socket: raw, ...this.tlsOptions(u) }) : raw
    return { ...ca, createConnection: () => conn }
  }
}

/** The dialer for a run: `--proxy`, else the environment (HTTPS_PROXY for https://, HTTP_PROXY for http://, NO_PROXY). */
export function createDialer(target: URL, setting: ProxySetting, ca: string | undefined, timeoutMs: number, env: Env = process.env): Dialer {
  return new Dialer(proxyFor(target, setting, env), ca, timeoutMs)
}
