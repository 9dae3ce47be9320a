/**
 * Real nginx for tests: a server block (rendered by the caller from a config file that
 * docs/DEPLOYMENT.md shows) wrapped in a minimal nginx.conf whose pid, logs and temp paths live in
 * a fresh temp prefix. Started in the foreground (`daemon off;`) on 127.0.0.1:<free port>, stopped
 * by its PID. Used by test/nginx (one upstream) and test/cluster (a round-robin upstream).
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, startDaemon } from './daemon'

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

const TEMP_PATHS = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'] as const
const tempDir = (k: (typeof TEMP_PATHS)[number]) => `tmp/${k === 'client_body' ? 'body' : k}`

/**
 * Start nginx with the server block `serverBlock(listen)` (listen: `127.0.0.1:<free port>`).
 * `label` names it in the error when it does not start. A lost port race is retried (3 tries).
 */
export async function startNginxWith(label: string, serverBlock: (listen: string) => string, opts: { workerConnections?: number } = {}): Promise<Nginx> {
  const bin = nginxBinary()
  let lastError = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const prefix = mkdtempSync(join(tmpdir(), `surewire-nginx-${label}-`))
    chmodSync(prefix, 0o755) // workers may run as `nobody` when the tests run as root
    for (const d of ['logs', ...TEMP_PATHS.map(tempDir)]) {
      mkdirSync(join(prefix, d), { recursive: true, mode: 0o777 })
      chmodSync(join(prefix, d), 0o777)
    }
    writeFileSync(join(prefix, 'server.conf'), serverBlock(`127.0.0.1:${port}`))
    writeFileSync(
      join(prefix, 'nginx.conf'),
      [
        `pid ${join(prefix, 'nginx.pid')};`,
        `error_log ${join(prefix, 'logs/error.log')} warn;`,
        'worker_processes 1;',
        `events { worker_connections ${opts.workerConnections ?? 1024}; }`,
        'http {',
        `  access_log ${join(prefix, 'logs/access.log')};`,
        ...TEMP_PATHS.map((k) => `  ${k}_temp_path ${join(prefix, tempDir(k))};`),
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
  throw new Error(`nginx (${label}) did not start: ${lastError.trim()}`)
}
