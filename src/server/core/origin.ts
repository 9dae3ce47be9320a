import type { OriginPolicy } from '../options'
import type { RealtimeRequest } from '../request'

/** The host the same-origin check compares with: `Host`, or (when trusted) the proxy's forwarded host. */
export function effectiveHost(req: RealtimeRequest, trustForwardedHost: boolean): string | undefined {
  if (trustForwardedHost) {
    const xfh = req.headers['x-forwarded-host']?.split(',')[0]?.trim()
    if (xfh) return xfh
    const fwd = req.headers.forwarded?.split(',')[0]?.match(/(?:^|;)\s*host=("?)([^";]+)\1/i)?.[2]?.trim()
    if (fwd) return fwd
  }
  return req.headers.host
}

export type OriginVerdict = { ok: true } | { ok: false; message: string }

/** Is a browser request allowed? The refusal message names the Origin and Host the server saw, and the fix. */
export function checkOrigin(policy: OriginPolicy, trustForwardedHost: boolean, req: RealtimeRequest): OriginVerdict {
  const origin = req.headers.origin
  if (!origin || policy === '*') return { ok: true }
  if (typeof policy === 'function') {
    return policy(origin) ? { ok: true } : { ok: false, message: `Origin ${origin} was refused by this server's allowedOrigins function` }
  }
  const host = effectiveHost(req, trustForwardedHost)
  let originHost: string | undefined
  try {
    originHost = new URL(origin).host
  } catch {
    return { ok: false, message: `Origin ${JSON.stringify(origin.slice(0, 100))} is not a valid origin` }
  }
  if (originHost === host || (policy !== 'same-origin' && policy.includes(origin))) return { ok: true }
  const seen = trustForwardedHost ? 'Host (or X-Forwarded-Host / Forwarded host=)' : 'Host'
  return {
    ok: false,
    message:
      `Origin ${origin} does not match ${seen} ${host ?? '(none)'} that this server saw. ` +
      `If a proxy in front rewrites Host, make it preserve Host (nginx: proxy_set_header Host $http_host; Apache: ProxyPreserveHost On), ` +
      `or set trustForwardedHost: true when the proxy sends X-Forwarded-Host, or list ${origin} in allowedOrigins.`,
  }
}

/** CORS headers for an allowed request (empty without Origin). */
export function corsHeaders(policy: OriginPolicy, req: RealtimeRequest): Record<string, string> {
  const origin = req.headers.origin
  if (!origin) return {}
  // '*' allows any site to read, so never together with credentials (cookies); lists and functions may.
  if (policy === '*') return { 'Access-Control-Allow-Origin': '*' }
  return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', Vary: 'Origin' }
}
