/** The doctor's vocabulary: options, probes, named causes, findings and the report. */
import type { Endpoints, EndpointPaths } from '../client/url'
import type { Fix } from './fixes'

export interface DoctorOptions {
  /** The page origin browsers connect from, e.g. https://app.example.com (CORS + mixed content checks). */
  origin?: string
  /** Token sent like the client does (WebSocket `access_token`, SSE/POST `Authorization: Bearer`). */
  token?: string
  paths?: EndpointPaths
  /** Bound for each probe. @default 5_000 */
  timeoutMs?: number
  /** Keep a WebSocket and the SSE stream idle this long to find a proxy's idle timeout (0: skip). @default 0 */
  idleMs?: number
}

export type ProbeName = 'dns' | 'tcp' | 'tls' | 'http' | 'websocket' | 'ws-hello' | 'sse' | 'post' | 'cors' | 'origin' | 'idle'

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
  /** `Origin` (with --origin) and `Authorization: Bearer` (with --token), as clients send them. */
  common: Record<string, string>
  auth: Record<string, string>
  /** Set by the origin check: the page origin differs from the endpoint's (CORS needed). */
  crossOrigin: boolean
  probes: Probe[]
  findings: Finding[]
}
