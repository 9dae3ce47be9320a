/**
 * Real nginx in front of N upstream ports with the round-robin `upstream` of ./upstream.conf,
 * in its own temp prefix (pid, logs, temp paths), foreground, on a free port, stopped by PID.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startDaemon } from '../support/daemon'
import { nginxBinary, type Nginx } from '../nginx/nginx'

const template = join(dirname(fileURLToPath(import.meta.url)), 'upstream.conf')

/** The server block for `ports`, as docs/DEPLOYMENT.md shows it. */
export function renderUpstream(listen: string, ports: number[]): string {
  const servers = ports.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join('\n')
  return readFileSync(template, 'utf8').replaceAll('{{listen}}', listen).replaceAll('{{servers}}', servers)
}

export async function startNginxUpstream(ports: number[]): Promise<Nginx> {
  const bin = nginxBinary()
  let lastError = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const prefix = mkdtempSync(join(tmpdir(), 'surewire-nginx-cluster-'))
    chmodSync(prefix, 0o755) // workers may run as `nobody` when the tests run as root
    for (const d of ['logs', 'tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) {
      mkdirSync(join(prefix, d), { recursive: true, mode: 0o777 })
      chmodSync(join(prefix, d), 0o777)
    }
    writeFileSync(join(prefix, 'server.conf'), renderUpstream(`127.0.0.1:${port}`, ports))
    const tmp = (k: string) => `  ${k}_temp_path ${join(prefix, `tmp/${k === 'client_body' ? 'body' : k}`)};`
    writeFileSync(
      join(prefix, 'nginx.conf'),
      [
        `pid ${join(prefix, 'nginx.pid')};`,
        `error_log ${join(prefix, 'logs/error.log')} warn;`,
        'worker_processes 1;',
        'events { worker_connections 1024; }',
        'http {',
        `  access_log ${join(prefix, 'logs/access.log')};`,
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(tmp),
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
    if (!/Address already in use/.test(lastError)) break
  }
  throw new Error(`nginx (cluster upstream) did not start: ${lastError.trim()}`)
}
