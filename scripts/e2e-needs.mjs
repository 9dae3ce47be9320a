/**
 * The system programs the e2e suites drive, each with how to find it and how to install it.
 * A checker returns true when the program is usable (the tests themselves look in the same
 * places: $ENV override, PATH, Debian's path outside a non-root PATH).
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const runs = (cmd, args) => {
  try {
    return spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 }).status === 0
  } catch {
    return false
  }
}
const anyRuns = (candidates, args) => candidates.filter(Boolean).some((c) => runs(c, args))

/** @type {Record<string, { apt: string[], found: () => boolean }>} */
export const needs = {
  nginx: { apt: ['nginx'], found: () => anyRuns([process.env.NGINX, 'nginx', '/usr/sbin/nginx'], ['-v']) },
  caddy: { apt: ['caddy'], found: () => anyRuns([process.env.CADDY, 'caddy', '/usr/bin/caddy'], ['version']) },
  apache2: { apt: ['apache2'], found: () => anyRuns([process.env.APACHE2, 'apache2', '/usr/sbin/apache2'], ['-v']) },
  haproxy: { apt: ['haproxy'], found: () => anyRuns([process.env.HAPROXY, 'haproxy', '/usr/sbin/haproxy'], ['-v']) },
  'redis-server': { apt: ['redis-server'], found: () => anyRuns([process.env.REDIS_SERVER, 'redis-server', '/usr/bin/redis-server'], ['--version']) },
  chromium: { apt: ['chromium'], found: () => existsSync(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium') },
  fastapi: {
    apt: ['python3-fastapi', 'python3-uvicorn', 'python3-websockets'],
    found: () => anyRuns([process.env.SUREWIRE_PYTHON, '/usr/bin/python3', 'python3'], ['-c', 'import fastapi, uvicorn, websockets']),
  },
  // test/deployments: the Starlette + httpx dev proxy, and the test certificate for the TLS cases.
  starlette: {
    apt: ['python3-starlette', 'python3-uvicorn', 'python3-websockets', 'python3-httpx'],
    found: () => anyRuns([process.env.SUREWIRE_PYTHON, '/usr/bin/python3', 'python3'], ['-c', 'import starlette, uvicorn, websockets, httpx']),
  },
  openssl: { apt: ['openssl'], found: () => anyRuns(['openssl'], ['version']) },
}

/** The names in `wanted` that are not installed (unknown names count as missing, loudly). */
export function missing(wanted) {
  return wanted.filter((name) => !needs[name]?.found())
}
