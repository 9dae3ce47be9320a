import { ConfigError } from '../errors'

/** Per-transport endpoint overrides, each resolved against the base `url`. */
export interface EndpointPaths {
  /** WebSocket endpoint, e.g. `/ws`. @default the base URL */
  websocket?: string
  /** SSE (GET, text/event-stream) endpoint, e.g. `/api/events`. @default the base URL */
  sse?: string
  /** POST endpoint for client → server frames. @default the base URL */
  post?: string
}

export interface Endpoints {
  websocket: URL
  sse: URL
  post: URL
  /** Key under which a blocked WebSocket is remembered. */
  key: string
}

/** The schemes a URL may have; the group is the secure `s` (or nothing). */
const SCHEME = /^(?:http|ws)(s?):$/

/** `u` with the scheme of one transport (`ws`/`wss` or `http`/`https`, keeping it secure or not) and no hash. */
function endpoint(u: URL, ws: boolean, name: string): URL {
  const s = SCHEME.exec(u.protocol)
  if (!s) throw new ConfigError(`\`${name}\` must be http(s):// or ws(s)://; got ${JSON.stringify(u.href)}`)
  u.protocol = (ws ? 'ws' : 'http') + s[1] + ':'
  u.hash = ''
  return u
}

/** Resolve the base URL and per-transport overrides; throws ConfigError with a fix on misuse. */
export function resolveEndpoints(url: string | URL, paths: EndpointPaths = {}): Endpoints {
  if (url === undefined || url === null || url === '') {
    throw new ConfigError(`\`url\` is required${(typeof process === 'object' && process.env.NODE_ENV !== 'production') ? ', e.g. new RealtimeClient({ url: "https://example.com/realtime", … })' : ''}`)
  }
  const href = (globalThis as { location?: { href?: unknown } }).location?.href // the page's, in browsers
  const page = typeof href === 'string' ? href : undefined
  let base: URL
  try {
    base = new URL(String(url), page)
  } catch {
    throw new ConfigError(
      `\`url\` ${JSON.stringify(String(url))} is not ${page ? 'a valid' : 'an absolute'} URL${!page && (typeof process === 'object' && process.env.NODE_ENV !== 'production') ? '; outside a browser pass one like "http://127.0.0.1:3000/realtime"' : ''}`,
    )
  }
  // Checks the base's scheme (the copy is thrown away).
  if (!endpoint(new URL(base), false, 'url').protocol.endsWith('s:') && page?.startsWith('https:')) {
    throw new ConfigError(
      `\`url\` ${base.protocol}//${base.host} is insecure but the page is https:// (browsers block mixed content)` +
        ((typeof process === 'object' && process.env.NODE_ENV !== 'production') ? `. Use "https://${base.host}${base.pathname}" (surewire derives wss:// from it) or a relative URL like "${base.pathname}".` : ''),
    )
  }
  const at = (k: keyof EndpointPaths, ws: boolean, p = paths[k]): URL => endpoint(new URL(p ?? '', base), ws, `paths.${k}`)
  const websocket = at('websocket', true)
  const sse = at('sse', false)
  const post = at('post', false, paths.post ?? paths.sse) // a bad paths.sse failed above
  return { websocket, sse, post, key: websocket.origin + websocket.pathname }
}

/** Endpoints as strings, which is what a client keeps between connections (a URL object costs far more). */
export interface EndpointHrefs {
  websocket: string
  sse: string
  post: string
}

export function toHrefs(e: Endpoints): EndpointHrefs {
  const sse = e.sse.href
  const post = e.post.href
  return { websocket: e.websocket.href, sse, post: post === sse ? sse : post }
}

/** Fresh URL objects for a connection (a custom protocol may modify them). */
export function fromHrefs(h: EndpointHrefs): Endpoints {
  const websocket = new URL(h.websocket)
  return { websocket, sse: new URL(h.sse), post: new URL(h.post), key: websocket.origin + websocket.pathname }
}

/** Copy `u` and set query parameters (skipping undefined). */
export function withQuery(u: URL | string, params: Record<string, string | number | undefined>): string {
  const out = new URL(u)
  for (const [k, v] of Object.entries(params)) if (v !== undefined) out.searchParams.set(k, String(v))
  return out.href
}
