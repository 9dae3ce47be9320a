/**
 * The vitest projects, in two groups. vitest.config.ts builds its projects from this list and
 * scripts/vitest.mjs runs a group (`npm test` runs `unit`, `npm run test:e2e` runs `e2e`).
 *
 * - `unit`: needs Node ≥ 20 and `npm ci`, nothing else. Every server a test talks to is started by
 *   the test itself (the reference server, test/support/proxy.ts, test/support/peer.ts).
 * - `e2e`: drives system software. `needs` names the programs (keys of scripts/e2e-needs.mjs);
 *   `npm run test:e2e` checks them all before starting and stops at once when one is missing.
 *
 * Adding an e2e suite is one line here: `{ name: 'apache', include: ['test/apache/**\/*.test.ts'], needs: ['apache2'] },`
 * (and a checker in scripts/e2e-needs.mjs if the program is new).
 */

/** @typedef {{ name: string, include: string[], needs?: string[] }} Project */

/** @type {Project[]} */
export const unit = [
  { name: 'client', include: ['test/client/**/*.test.ts'] },
  { name: 'server', include: ['test/*.test.ts'] },
  { name: 'reliability', include: ['test/reliability/**/*.test.ts'] },
  // Pure-module specifications (CLIENT-STATE: fallback decisions, outbox, keepalive, inbox).
  { name: 'unit', include: ['test/unit/**/*.test.ts'] },
]

/** @type {Project[]} */
export const e2e = [
  { name: 'nginx', include: ['test/nginx/**/*.test.ts'], needs: ['nginx'] },
  { name: 'caddy', include: ['test/caddy/**/*.test.ts'], needs: ['caddy'] },
  { name: 'fastapi', include: ['test/fastapi/**/*.test.ts'], needs: ['fastapi'] },
  { name: 'browser', include: ['test/browser/**/*.test.ts'], needs: ['chromium', 'nginx', 'apache2'] },
  { name: 'apache', include: ['test/apache/**/*.test.ts'], needs: ['apache2'] },
  { name: 'haproxy', include: ['test/haproxy/**/*.test.ts'], needs: ['haproxy'] },
  // Forward proxy + TLS (openssl makes the test certificate), the Starlette front, Vite's proxy.
  { name: 'deployments', include: ['test/deployments/**/*.test.ts'], needs: ['openssl', 'starlette'] },
  // Installs examples/nextjs's dependencies from the npm registry on first run, then `next build`.
  { name: 'nextjs-rewrites', include: ['test/nextjs-rewrites/**/*.test.ts'] },
  // surewire/redis against Debian's redis-server (each test file starts its own on a free port).
  { name: 'redis', include: ['test/redis/**/*.test.ts'], needs: ['redis-server'] },
  // Three reference-server processes on one redis-server behind nginx's round-robin upstream (issue #9).
  { name: 'cluster', include: ['test/cluster/**/*.test.ts'], needs: ['nginx', 'redis-server'] },
]
