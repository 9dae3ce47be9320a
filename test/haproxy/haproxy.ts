/**
 * Real HAProxy for tests: test/haproxy/conf/<name>.cfg (the text docs/DEPLOYMENT.md shows) after
 * a small global section (no chroot, no daemon, pid in a fresh temp prefix), run in the
 * foreground (-db) on 127.0.0.1:<free port>, stopped by its PID.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startDaemon } from '../support/daemon'

export type HaproxyConfig = 'debian' | 'good' | 'client-5s'

const confDir = join(dirname(fileURLToPath(import.meta.url)), 'conf')

export function renderConfig(name: HaproxyConfig, vars: { listen: string; upstream: string }): string {
  return readFileSync(join(confDir, `${name}.cfg`), 'utf8').replaceAll('{{listen}}', vars.listen).replaceAll('{{upstream}}', vars.upstream)
}

export function haproxyBinary(): string {
  for (const c of [process.env.HAPROXY, 'haproxy', '/usr/sbin/haproxy'].filter((c): c is string => !!c)) {
    if (spawnSync(c, ['-v'], { stdio: 'ignore' }).status === 0) return c
  }
  throw new Error('HAProxy not found: install it (Debian: apt-get install -y haproxy; .ci/run does) or set HAPROXY=/path/to/haproxy')
}

export interface Haproxy {
  port: number
  url(path?: string): string
  stop(): Promise<void>
}

export async function startHaproxy(name: HaproxyConfig, upstreamPort: number): Promise<Haproxy> {
  const bin = haproxyBinary()
  let lastError = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const prefix = mkdtempSync(join(tmpdir(), `surewire-haproxy-${name}-`))
    const cfg = join(prefix, 'haproxy.cfg')
    const global = ['global', `    pidfile ${join(prefix, 'haproxy.pid')}`, '    maxconn 256', '']
    writeFileSync(cfg, [...global, renderConfig(name, { listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${upstreamPort}` })].join('\n'))
    const d = await startDaemon(bin, ['-db', '-f', cfg], { port, prefix })
    if (!('failed' in d)) return { port, url: (path = '') => `http://127.0.0.1:${port}${path}`, stop: d.stop }
    lastError = d.failed
    if (!/Address already in use|cannot bind/.test(lastError)) break
  }
  throw new Error(`HAProxy (${name}) did not start: ${lastError.trim()}`)
}
