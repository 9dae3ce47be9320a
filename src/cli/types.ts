/** The doctor's vocabulary: options, probes, named causes, findings and the report. */
import type { Endpoints, EndpointPaths } from '../client/url'
import type { Fix } from './fixes'
import type { Dialer } from './probes/dial'
import type { ProxyGuess, SeenResponse } from './proxies'

export interface DoctorOptions {
  /**
   * The page origin browsers connect from, e.g. https://app.example.com (CORS + mixed content
   * checks). Sent as `Origin` the way browsers send it (WebSocket and POST always, the SSE GET
   * only cross-origin), so a proxy that rewrites `Host` is caught. `false`: send no `Origin`
   * (probe as a non-browser client). @default the URL's own origin
   */
  origin?: string | false
  /**
   * Forward proxy to probe through (`http://host:port`): plain http:// requests in absolute-URI
   * form, https:// and every WebSocket through CONNECT. `false`: never, not even from the
   * environment. @default HTTPS_PROXY / HTTP_PROXY (with NO_PROXY), as curl reads them
   */
  proxy?: string | false
  /** Extra trusted CA certificates (PEM), e.g. a company's or a test's own. @default none (Node's bundle) */
  ca?: string
  /** Token sent like the client does (WebSocket `access_token`, SSE/POST `Authorization: Bearer`). */
  token?: string
  paths?: EndpointPaths
  /** Bound for each probe. @default 5_000 */
  timeoutMs?: number
  /** Keep a WebSocket and the SSE stream idle this long to find a proxy's idle timeout (0: skip). @default 0 */
  idleMs?: number
}

export type ProbeName = 'proxy' | 'dns' | 'tcp' | 'tls' | 'http' | 'websocket' | 'ws-hello' | 'sse' | 'post' | 'cors' | 'origin' | 'idle'

export interface Probe {
  name: ProbeName
  /** null: skipped (with the reason in `detail`). */
  ok: boolean | null
  ms?: number
  detail: string
}

/** Named causes: what doctor believes is wrong. */
export type Cause =
  | 'dns_failed'
  | 'tcp_failed'
  | 'tls_failed'
  | 'upgrade_headers_dropped'
  | 'ws_not_offered'
  | 'ws_blocked'
  | 'ws_no_hello'
  | 'ws_no_pong'
  | 'path_not_routed'
  | 'ws_path_not_routed'
  | 'sse_path_not_routed'
  | 'bad_gateway'
  | 'auth_required'
  | 'origin_forbidden'
  | 'not_surewire'
  | 'sse_buffered'
  | 'sse_failed'
  | 'post_failed'
  | 'cors_missing'
  | 'mixed_content'
  | 'proxy_idle_timeout'
  /** The proxy sends the backend a different `Host` than the browser used: same-origin pages are refused. */
  | 'host_rewritten'
  /** Something that is not a surewire server refused the upgrade with an HTTP status (e.g. uvicorn's 403). */
  | 'ws_refused'
  /** A POST for the session the SSE probe had just opened: 404 session_unknown (several processes, no shared broker). */
  | 'session_unknown'
  /** The forward proxy could not be reached, or refused the tunnel. */
  | 'proxy_failed'
  /** The SSE stream is compressed (gzip / br): fine while each event is flushed. */
  | 'sse_compressed'
  /** https without HTTP/2, or plain http: browsers allow 6 connections per host, and each SSE stream holds one. */
  | 'http1_only'

export interface Finding {
  cause: Cause
  /** error: this breaks a transport (or all of them); warn: works, but degraded; info: worth knowing. */
  severity: 'error' | 'warn' | 'info'
  message: string
  fixes: Fix[]
}

export interface DoctorReport {
  url: string
  endpoints: { websocket: string; sse: string; post: string }
  probes: Probe[]
  /** The transport clients will end up on, or null when none works. */
  transport: 'websocket' | 'sse' | null
  /** True when browsers/clients get a working transport (the CLI's exit code 0). */
  ok: boolean
  /** The most likely cause of the worst problem, when there is one. */
  cause: Cause | null
  /** The proxy in front, as recognised from headers or behaviour. */
  proxy: ProxyGuess
  /** What the network probe learned: the forward proxy used, and the ALPN protocol on https. */
  via?: string
  alpn?: string
  /** The SSE stream's Content-Encoding, when it is compressed. */
  sseEncoding?: string
  verdict: string
  findings: Finding[]
}

/** What every step of one doctor run shares (internal). */
export interface Run {
  target: string
  options: DoctorOptions
  /** Bound for each probe. */
  timeoutMs: number
  ep: Endpoints
  /** The SSE path: what proxy locations must route (and the default for WebSocket and POST). */
  path: string
  /** The `Origin` browsers send (undefined with `origin: false`). */
  origin: string | undefined
  /** Headers as browsers send them: `ws`/`post` carry Origin always, `sse` only cross-origin. */
  headers: { ws: Record<string, string>; sse: Record<string, string>; post: Record<string, string> }
  auth: Record<string, string>
  dial: Dialer
  /** Every response a probe saw (proxy recognition). */
  seen: SeenResponse[]
  proxy: ProxyGuess
  alpn?: string
  /** Set by the origin check: the page origin differs from the endpoint's (CORS needed). */
  crossOrigin: boolean
  probes: Probe[]
  findings: Finding[]
}
