/**
 * The fixes doctor prints, per cause and in the language of the proxy in front. The nginx,
 * Apache and HAProxy snippets are lines of the configs the e2e tests run (test/nginx/conf,
 * test/apache/conf, test/haproxy/conf) and docs/DEPLOYMENT.md shows; the tests check they have
 * not drifted apart.
 */
import type { ProxyKind } from './proxies'

export interface Fix {
  /** Where the snippet goes, e.g. "nginx (inside the server block)". */
  where: string
  snippet: string
}

export const nginxLocation = (path: string): string => `# http { … } level, once:
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}

# inside server { … }:
location ${path} {
    proxy_pass http://127.0.0.1:3000;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $connection_upgrade;
    proxy_set_header Host $http_host;
    proxy_buffering off;
    proxy_read_timeout 1h;
}`

export const npmAdvanced = (path: string): string => `location ${path} {
    proxy_pass http://127.0.0.1:3000;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $http_connection;
    proxy_set_header Host $http_host;
    proxy_buffering off;
    proxy_read_timeout 1h;
}`

export const apacheVhost = (path: string): string => `# a2enmod proxy proxy_http proxy_wstunnel
ProxyPreserveHost On
ProxyPass        ${path} http://127.0.0.1:3000${path} upgrade=websocket
ProxyPassReverse ${path} http://127.0.0.1:3000${path}`

export const haproxyBackend = (): string => `defaults
    timeout tunnel 1h

backend realtime
    server app 127.0.0.1:3000`

export const caddySite = (path: string): string => `reverse_proxy ${path}* 127.0.0.1:3000 {
	flush_interval -1
}`

export const nextCustomServer = (path: string): string => `// server.mjs: route surewire's upgrades before Next.js sees them
const realtime = createRealtimeServer({ path: '${path}', incoming, outgoing })
const server = createServer((req, res) => realtime.handleRequest(req, res) || handle(req, res))
server.on('upgrade', (req, socket, head) => {
  if (realtime.handleUpgrade(req, socket, head)) return
  app.getUpgradeHandler()(req, socket, head) // Next.js's own (HMR) upgrades only
})`

const trustForwardedHost = `createRealtimeServer({ trustForwardedHost: true, … })  // only behind a proxy that sets X-Forwarded-Host itself`

/** One fix per proxy kind; `unknown` gets the common ones. */
function pick(proxy: ProxyKind, table: Partial<Record<ProxyKind, Fix[]>>, fallback: ProxyKind[] = ['nginx', 'apache', 'caddy']): Fix[] {
  return table[proxy] ?? fallback.flatMap((k) => table[k] ?? [])
}

export function upgradeFixes(proxy: ProxyKind, path: string): Fix[] {
  return pick(
    proxy,
    {
      nginx: [
        { where: 'nginx', snippet: nginxLocation(path) },
        { where: 'Nginx Proxy Manager: proxy host → Advanced tab (or turn on "Websockets Support")', snippet: npmAdvanced(path) },
      ],
      apache: [{ where: 'Apache httpd (in the VirtualHost; Apache ≥ 2.4.47)', snippet: apacheVhost(path) }],
      haproxy: [{ where: 'HAProxy (forwards upgrades by itself in mode http: remove any http-request del-header Upgrade / option httpclose)', snippet: haproxyBackend() }],
      caddy: [{ where: 'Caddy (forwards upgrades by itself)', snippet: caddySite(path) }],
      traefik: [{ where: 'Traefik (forwards upgrades by itself; not checked by the e2e suite)', snippet: 'Remove any middleware that rewrites Connection / Upgrade headers on this router.' }],
      envoy: [{ where: 'Envoy (http_connection_manager)', snippet: 'upgrade_configs:\n  - upgrade_type: websocket' }],
      nextjs: [{ where: 'Next.js: rewrites() do not carry WebSocket upgrades; use a custom server (or let clients use SSE + POST)', snippet: nextCustomServer(path) }],
      uvicorn: [{ where: 'the Python app in front: it has no WebSocket route for this path (uvicorn answers 403). Add one that proxies, or leave clients on SSE + POST', snippet: `@app.websocket("${path}")\nasync def realtime_ws(ws: WebSocket): ...  # relay to the surewire server` }],
    },
    ['nginx', 'apache', 'nextjs'],
  )
}

export function bufferingFixes(proxy: ProxyKind, path: string): Fix[] {
  return pick(proxy, {
    nginx: [
      { where: 'nginx (in the location that proxies the realtime path)', snippet: `location ${path} {\n    # …\n    proxy_buffering off;\n    # and remove any proxy_ignore_headers X-Accel-Buffering / proxy_hide_header X-Accel-Buffering\n}` },
      { where: 'Nginx Proxy Manager: proxy host → Advanced tab', snippet: npmAdvanced(path) },
    ],
    apache: [{ where: 'Apache httpd', snippet: `ProxyPass ${path} http://127.0.0.1:3000${path} upgrade=websocket flushpackets=on\nSetEnvIf Request_URI ^${path} no-gzip` }],
    haproxy: [{ where: 'HAProxy (does not buffer responses by itself)', snippet: 'Remove `compression type text/event-stream` and any filter cache on this backend.' }],
    caddy: [{ where: 'Caddy', snippet: caddySite(path) }],
    traefik: [{ where: 'Traefik (not checked by the e2e suite)', snippet: 'Remove the `buffering` middleware from this router (Traefik flushes text/event-stream by itself).' }],
    envoy: [{ where: 'Envoy', snippet: 'Remove any buffer filter on this route, and set the route `timeout: 0s` (the 15 s default ends SSE streams).' }],
    nextjs: [{ where: 'Next.js', snippet: 'Serve the realtime path from a custom server (or a route handler with createFetchHandler), not through rewrites().' }],
    uvicorn: [{ where: 'the Python proxy in front', snippet: 'Stream the upstream body (httpx `client.stream(...)` + StreamingResponse), do not read it whole.' }],
    unknown: [{ where: 'other proxies / CDNs', snippet: 'Disable response buffering and compression for text/event-stream on this path.' }],
  })
}

export function pathFixes(proxy: ProxyKind, path: string): Fix[] {
  const client = {
    where: 'client: if the server is mounted elsewhere, say where',
    snippet: `new RealtimeClient({ url: 'https://example.com${path}', paths: { websocket: '/ws', sse: '/api/events', post: '/api/events' }, … })`,
  }
  return [
    ...pick(proxy, {
      nginx: [{ where: 'nginx: add a location for the realtime path (or point the client at the proxied path)', snippet: nginxLocation(path) }],
      apache: [{ where: 'Apache httpd: proxy the realtime path', snippet: apacheVhost(path) }],
      caddy: [{ where: 'Caddy: proxy the realtime path', snippet: caddySite(path) }],
    }),
    client,
  ]
}

/** The proxy rewrote `Host`, so the server's same-origin check refuses browsers. */
export function hostFixes(proxy: ProxyKind): Fix[] {
  const server = { where: 'or the surewire server, when the proxy sets X-Forwarded-Host (Next.js rewrites, most PaaS routers)', snippet: trustForwardedHost }
  return [
    ...pick(
      proxy,
      {
        nginx: [{ where: 'nginx: pass the Host the browser sent, port included ($host drops the port)', snippet: 'proxy_set_header Host $http_host;' }],
        apache: [{ where: 'Apache httpd (in the VirtualHost)', snippet: 'ProxyPreserveHost On' }],
        haproxy: [{ where: 'HAProxy', snippet: 'Remove `http-request set-header Host …` from the backend (HAProxy keeps Host by default).' }],
        caddy: [{ where: 'Caddy', snippet: 'Remove `header_up Host {upstream_hostport}` (Caddy keeps Host by default).' }],
        traefik: [{ where: 'Traefik (not checked by the e2e suite)', snippet: 'loadBalancer:\n  passHostHeader: true' }],
        envoy: [{ where: 'Envoy', snippet: 'Remove host_rewrite_literal / auto_host_rewrite from the route.' }],
        nextjs: [{ where: 'Next.js rewrites() set Host to the destination and X-Forwarded-Host to the page\'s host: trust it on the surewire server', snippet: trustForwardedHost }],
      },
      ['nginx', 'apache'],
    ),
    ...(proxy === 'nextjs' ? [] : [server]),
  ]
}

export function idleFixes(proxy: ProxyKind, path: string, cutMs: number): Fix[] {
  const safe = Math.max(1_000, Math.floor((cutMs * 0.6) / 1_000) * 1_000)
  return [
    ...pick(proxy, {
      nginx: [{ where: 'nginx', snippet: `location ${path} {\n    # …\n    proxy_read_timeout 1h;\n    proxy_send_timeout 1h;\n}` }],
      apache: [{ where: 'Apache httpd', snippet: `ProxyPass ${path} http://127.0.0.1:3000${path} upgrade=websocket timeout=3600` }],
      haproxy: [{ where: 'HAProxy (defaults or the backend): `timeout tunnel` for WebSocket, `timeout client` / `timeout server` above the heartbeat for SSE', snippet: 'timeout tunnel 1h\ntimeout client 1h\ntimeout server 1h' }],
      caddy: [{ where: 'Caddy', snippet: `reverse_proxy ${path}* 127.0.0.1:3000 {\n\tflush_interval -1\n\tstream_timeout 0\n}` }],
      traefik: [{ where: 'Traefik static config (not checked by the e2e suite)', snippet: 'entryPoints:\n  web:\n    transport:\n      respondingTimeouts:\n        readTimeout: 0\n        idleTimeout: 3600s' }],
      envoy: [{ where: 'Envoy (route)', snippet: 'timeout: 0s\nidle_timeout: 3600s' }],
    }),
    { where: 'or keep surewire below the cut', snippet: `createRealtimeServer({ heartbeatIntervalMs: ${safe}, … })  // clients ping at least this often` },
  ]
}

/**
 * SSE and POST of one session reach different processes that do not share sessions. The fix is
 * the Redis broker (it shares sessions: any request for a session works on any process), or,
 * without it, routing every request of a client to one process. Routing by the `sid` query
 * parameter does not do that: a new client's first SSE GET carries no `sid` yet, so it hashes
 * elsewhere than its POSTs. Route by client address instead.
 */
export function stickyFixes(proxy: ProxyKind): Fix[] {
  const broker: Fix = {
    where: 'share sessions between the processes (surewire/redis: then plain round-robin works, no affinity needed)',
    snippet: `import { createRedisBroker } from 'surewire/redis'\ncreateRealtimeServer({ broker: await createRedisBroker({ url: 'redis://127.0.0.1:6379' }), … })`,
  }
  return [broker].concat(pick(
    proxy,
    {
      nginx: [{ where: 'or route every request of a client to one process (nginx upstream)', snippet: 'upstream realtime {\n    ip_hash;\n    server 127.0.0.1:3001;\n    server 127.0.0.1:3002;\n}' }],
      apache: [{ where: 'or sticky routing (Apache mod_proxy_balancer with a route cookie; browsers send it on SSE and POST)', snippet: 'Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED\n<Proxy balancer://realtime>\n    BalancerMember http://127.0.0.1:3001 route=1\n    BalancerMember http://127.0.0.1:3002 route=2\n    ProxySet stickysession=ROUTEID\n</Proxy>' }],
      haproxy: [{ where: 'or route every request of a client to one process (HAProxy backend)', snippet: 'balance source\nhash-type consistent' }],
      caddy: [{ where: 'or route every request of a client to one process (Caddy reverse_proxy)', snippet: 'lb_policy ip_hash' }],
      traefik: [{ where: 'or sticky routing (Traefik, browsers only: a cookie)', snippet: 'loadBalancer:\n  sticky:\n    cookie: {}' }],
      envoy: [{ where: 'or route every request of a client to one process (Envoy route, ring_hash cluster)', snippet: 'hash_policy:\n  - connection_properties: { source_ip: true }' }],
    },
    ['nginx'],
  ))
}

export function corsFixes(origin: string): Fix[] {
  return [
    { where: 'surewire reference server', snippet: `createRealtimeServer({ allowedOrigins: ['${origin}'], … })` },
    { where: 'or serve the page and the realtime path from one origin (no CORS at all)', snippet: 'location /realtime { proxy_pass …; }  # on the page\'s own host' },
  ]
}
