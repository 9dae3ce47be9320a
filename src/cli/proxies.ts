/**
 * Which proxy is in front, from the responses the probes saw: headers first (`Server`, `Via`,
 * `X-Powered-By`, Envoy's `x-envoy-*`), then behaviour (HAProxy sends no `Server` header and
 * writes every header name in lower case). The fixes doctor prints are in that proxy's language.
 */
import type http from 'node:http'

export type ProxyKind = 'nginx' | 'apache' | 'haproxy' | 'caddy' | 'traefik' | 'envoy' | 'nextjs' | 'uvicorn' | 'unknown'

export interface ProxyGuess {
  kind: ProxyKind
  /** What it was recognised by, for the report. */
  evidence: string
}

/** One response as a probe saw it. `rawHeaders`: names as sent (lower case tells HAProxy apart). */
export interface SeenResponse {
  headers: http.IncomingHttpHeaders
  rawHeaders?: string[]
}

export const PROXY_NAMES: Record<ProxyKind, string> = {
  nginx: 'nginx',
  apache: 'Apache httpd',
  haproxy: 'HAProxy',
  caddy: 'Caddy',
  traefik: 'Traefik',
  envoy: 'Envoy',
  nextjs: 'Next.js',
  uvicorn: 'uvicorn (Starlette / FastAPI)',
  unknown: 'the proxy',
}

const BY_SERVER: [RegExp, ProxyKind][] = [
  [/^nginx|openresty/i, 'nginx'],
  [/^apache/i, 'apache'],
  [/^caddy/i, 'caddy'],
  [/^envoy|istio-envoy/i, 'envoy'],
  [/^traefik/i, 'traefik'],
  [/^uvicorn|^hypercorn/i, 'uvicorn'],
  [/^haproxy/i, 'haproxy'],
]

function byHeaders(h: http.IncomingHttpHeaders): ProxyGuess | undefined {
  const powered = String(h['x-powered-by'] ?? '')
  if (/next\.js/i.test(powered)) return { kind: 'nextjs', evidence: `X-Powered-By: ${powered}` }
  if (Object.keys(h).some((k) => k.startsWith('x-envoy-'))) return { kind: 'envoy', evidence: 'x-envoy-* response headers' }
  const server = typeof h.server === 'string' ? h.server : ''
  for (const [re, kind] of BY_SERVER) if (re.test(server)) return { kind, evidence: `Server: ${server}` }
  const via = String(h.via ?? '')
  if (/caddy/i.test(via)) return { kind: 'caddy', evidence: `Via: ${via}` }
  if (/traefik/i.test(via)) return { kind: 'traefik', evidence: `Via: ${via}` }
  return undefined
}

/** HAProxy 2.x (HTX) writes header names in lower case and adds no `Server` header. */
function lowerCaseHeaders(r: SeenResponse): boolean {
  const names = (r.rawHeaders ?? []).filter((_, i) => i % 2 === 0)
  return names.length > 0 && names.every((n) => n === n.toLowerCase()) && r.headers.server === undefined
}

/** The first response that names a proxy wins; none: HAProxy by behaviour, else unknown. */
export function recogniseProxy(seen: SeenResponse[]): ProxyGuess {
  for (const r of seen) {
    const g = byHeaders(r.headers)
    if (g) return g
  }
  if (seen.length > 0 && seen.every(lowerCaseHeaders)) return { kind: 'haproxy', evidence: 'no Server header, every header name in lower case (HAProxy)' }
  return { kind: 'unknown', evidence: 'no Server / Via / X-Powered-By header' }
}
