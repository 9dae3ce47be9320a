/**
 * The fixes doctor prints, one per cause. The nginx ones are the configs the e2e tests
 * run (test/nginx/conf/good.conf, npm-advanced.conf) and docs/DEPLOYMENT.md shows;
 * test/nginx/doctor.test.ts checks they have not drifted apart.
 */

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
    proxy_set_header Host $host;
    proxy_buffering off;
    proxy_read_timeout 1h;
}`

export const npmAdvanced = (path: string): string => `location ${path} {
    proxy_pass http://127.0.0.1:3000;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $http_connection;
    proxy_set_header Host $host;
    proxy_buffering off;
    proxy_read_timeout 1h;
}`

export const nextCustomServer = (path: string): string => `// server.mjs: route surewire's upgrades before Next.js sees them
const realtime = createRealtimeServer({ path: '${path}', incoming, outgoing })
const server = createServer((req, res) => realtime.handleRequest(req, res) || handle(req, res))
server.on('upgrade', (req, socket, head) => {
  if (realtime.handleUpgrade(req, socket, head)) return
  app.getUpgradeHandler()(req, socket, head) // Next.js's own (HMR) upgrades only
})`

export function upgradeFixes(path: string): Fix[] {
  return [
    { where: 'nginx', snippet: nginxLocation(path) },
    { where: 'Nginx Proxy Manager: proxy host → Advanced tab (or turn on "Websockets Support")', snippet: npmAdvanced(path) },
    { where: 'Next.js custom server', snippet: nextCustomServer(path) },
  ]
}

export function bufferingFixes(path: string): Fix[] {
  return [
    {
      where: 'nginx (in the location that proxies the realtime path)',
      snippet: `location ${path} {
    # …
    proxy_buffering off;
    # and remove any proxy_ignore_headers X-Accel-Buffering / proxy_hide_header X-Accel-Buffering
}`,
    },
    { where: 'Nginx Proxy Manager: proxy host → Advanced tab', snippet: npmAdvanced(path) },
    { where: 'other proxies / CDNs', snippet: 'Disable response buffering and compression for text/event-stream on this path.' },
  ]
}

export function pathFixes(path: string): Fix[] {
  return [
    { where: 'nginx: add a location for the realtime path (or point the client at the proxied path)', snippet: nginxLocation(path) },
    {
      where: 'client: if the server is mounted elsewhere, say where',
      snippet: `new RealtimeClient({ url: 'https://example.com${path}', paths: { websocket: '/ws', sse: '/api/events', post: '/api/events' }, … })`,
    },
  ]
}

export function idleFixes(path: string, cutMs: number): Fix[] {
  const safe = Math.max(1_000, Math.floor((cutMs * 0.6) / 1_000) * 1_000)
  return [
    { where: 'nginx', snippet: `location ${path} {\n    # …\n    proxy_read_timeout 1h;\n    proxy_send_timeout 1h;\n}` },
    { where: 'or keep surewire below the cut', snippet: `createRealtimeServer({ heartbeatIntervalMs: ${safe}, … })  // clients ping at least this often` },
  ]
}

export function corsFixes(origin: string): Fix[] {
  return [
    { where: 'surewire reference server', snippet: `createRealtimeServer({ allowedOrigins: ['${origin}'], … })` },
    { where: 'or serve the page and the realtime path from one origin (no CORS at all)', snippet: 'location /realtime { proxy_pass …; }  # on the page\'s own host' },
  ]
}
