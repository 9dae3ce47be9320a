/**
 * Real Apache httpd for tests: one VirtualHost from test/apache/conf/<name>.conf (the text
 * docs/DEPLOYMENT.md shows) wrapped in a minimal httpd.conf with its own pid, logs and
 * runtime dir in a fresh temp prefix. Started in the foreground (-DFOREGROUND) on
 * 127.0.0.1:<free port>, stopped by its PID.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startDaemon } from '../support/daemon'

export type ApacheConfig = 'good' | 'no-preserve-host' | 'no-upgrade'

const confDir = join(dirname(fileURLToPath(import.meta.url)), 'conf')
const MODULES = process.env.APACHE_MODULES ?? '/usr/lib/apache2/modules'

export function renderConfig(name: ApacheConfig, vars: { listen: string; upstream: string }): string {
  return readFileSync(join(confDir, `${name}.conf`), 'utf8').replaceAll('{{listen}}', vars.listen).replaceAll('{{upstream}}', vars.upstream)
}

export function apacheBinary(): string {
  for (const c of [process.env.APACHE2, process.env.APACHE, 'apache2', '/usr/sbin/apache2', 'httpd'].filter((c): c is string => !!c)) {
    if (spawnSync(c, ['-v'], { stdio: 'ignore' }).status === 0) return c
  }
  throw new Error('Apache httpd not found: install it (Debian: apt-get install -y apache2; .ci/run does) or set APACHE2=/path/to/apache2')
}

export interface Apache {
  port: number
  url(path?: string): string
  errorLog(): string
  stop(): Promise<void>
}

const modules = ['mpm_event', 'authz_core', 'filter', 'deflate', 'setenvif', 'headers', 'proxy', 'proxy_http', 'proxy_wstunnel']

export async function startApache(name: ApacheConfig, upstreamPort: number): Promise<Apache> {
  const bin = apacheBinary()
  let lastError = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const prefix = mkdtempSync(join(tmpdir(), `surewire-apache-${name}-`))
    chmodSync(prefix, 0o755)
    const errorLog = join(prefix, 'error.log')
    const conf = join(prefix, 'httpd.conf')
    writeFileSync(join(prefix, 'site.conf'), renderConfig(name, { listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${upstreamPort}` }))
    writeFileSync(
      conf,
      [
        `ServerRoot ${prefix}`,
        `PidFile ${join(prefix, 'httpd.pid')}`,
        `DefaultRuntimeDir ${prefix}`,
        `Mutex file:${prefix} default`,
        `ErrorLog ${errorLog}`,
        'LogLevel warn',
        'ServerName 127.0.0.1',
        ...modules.map((m) => `LoadModule ${m}_module ${MODULES}/mod_${m}.so`),
        ...(process.getuid?.() === 0 ? ['User www-data', 'Group www-data'] : []),
        'StartServers 1',
        'ServerLimit 1',
        'ThreadsPerChild 64',
        'MaxRequestWorkers 64',
        `Listen 127.0.0.1:${port}`,
        `Include ${join(prefix, 'site.conf')}`,
        '',
      ].join('\n'),
    )
    const log = () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '')
    const d = await startDaemon(bin, ['-f', conf, '-DFOREGROUND'], { port, prefix })
    if (!('failed' in d)) return { port, url: (path = '') => `http://127.0.0.1:${port}${path}`, errorLog: log, stop: d.stop }
    lastError = `${d.failed}\n${log()}`
    if (!/Address already in use/.test(lastError)) break
  }
  throw new Error(`Apache (${name}) did not start: ${lastError.trim()}`)
}
