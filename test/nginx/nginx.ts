/**
 * Real nginx for tests: one server block from test/nginx/conf/<name>.conf (the same
 * text docs/DEPLOYMENT.md shows) wrapped in a minimal nginx.conf whose pid, logs and
 * temp paths live in a fresh temp prefix. Started in the foreground (`daemon off;`)
 * on 127.0.0.1:<free port>, stopped by its PID.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startDaemon } from '../support/daemon'

export type NginxConfig = 'good' | 'npm-advanced' | 'no-upgrade' | 'buffered' | 'read-timeout' | 'wrong-path' | 'host-rewrite' | 'round-robin'

const confDir = join(dirname(fileURLToPath(import.meta.url)), 'conf')

/** The server block of a config with its placeholders filled in. */
export function renderConfig(name: NginxConfig, vars: { listen: string; upstream: string; upstream2?: string }): string {
  return readFileSync(join(confDir, `${name}.conf`), 'utf8')
    .replaceAll('{{listen}}', vars.listen)
    .replaceAll('{{upstream}}', vars.upstream)
    .replaceAll('{{upstream2}}', vars.upstream2 ?? '127.0.0.1:3001')
}

/** The nginx binary: $NGINX, else `nginx` on PATH, else Debian's /usr/sbin/nginx (not on a non-root PATH). */
export function nginxBinary(): string {
  const candidates = [process.env.NGINX, 'nginx', '/usr/sbin/nginx'].filter((c): c is string => !!c)
  for (const c of candidates) {
    const r = spawnSync(c, ['-v'], { stdio: 'ignore' })
    if (r.status === 0) return c
  }
  throw new Error('nginx not found: install it (Debian: apt-get install -y nginx; .ci/run does) or set NGINX=/path/to/nginx')
}


export interface Nginx {
  port: number
  pid: number
  /** `http://127.0.0.1:<port><path>` */
  url(path?: string): string
  errorLog(): string
  stop(): Promise<void>
}

/** Start nginx with config `name` in front of 127.0.0.1:`upstreamPort` (two ports for round-robin). */
export async function startNginx(name: NginxConfig, upstreamPort: number | [number, number]): Promise<Nginx> {
  const [up1, up2] = Array.isArray(upstreamPort) ? upstreamPort : [upstreamPort, undefined]
  const bin = nginxBinary()
  let lastError = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const prefix = mkdtempSync(join(tmpdir(), `surewire-nginx-${name}-`))
    chmodSync(prefix, 0o755) // workers may run as `nobody` when the tests run as root
    for (const d of ['logs', 'tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirSync(join(prefix, d), { recursive: true, mode: 0o777 })
    for (const d of ['tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) chmodSync(join(prefix, d), 0o777)
    writeFileSync(join(prefix, 'server.conf'), renderConfig(name, { listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${up1}`, upstream2: up2 === undefined ? undefined : `127.0.0.1:${up2}` }))
    writeFileSync(
      join(prefix, 'nginx.conf'),
      [
        `pid ${join(prefix, 'nginx.pid')};`,
        `error_log ${join(prefix, 'logs/error.log')} warn;`,
        'worker_processes 1;',
        'events { worker_connections 256; }',
        'http {',
        `  access_log ${join(prefix, 'logs/access.log')};`,
        `  client_body_temp_path ${join(prefix, 'tmp/body')};`,
        `  proxy_temp_path ${join(prefix, 'tmp/proxy')};`,
        `  fastcgi_temp_path ${join(prefix, 'tmp/fastcgi')};`,
        `  uwsgi_temp_path ${join(prefix, 'tmp/uwsgi')};`,
        `  scgi_temp_path ${join(prefix, 'tmp/scgi')};`,
        `  include ${join(prefix, 'server.conf')};`,
        '}',
        '',
      ].join('\n'),
    )
    const errorLog = join(prefix, 'logs/error.log')
    const log = () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '')
    const d = await startDaemon(bin, ['-e', errorLog, '-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { port, prefix })
    if (!('failed' in d)) return { port, pid: d.pid, url: (path = '') => `http://127.0.0.1:${port}${path}`, errorLog: log, stop: d.stop }
    lastError = `${d.failed}\n${log()}`
    if (!/Address already in use/.test(lastError)) break // only a lost port race is worth another try
  }
  throw new Error(`nginx (${name}) did not start: ${lastError.trim()}`)
}
