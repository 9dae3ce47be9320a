/**
 * Real nginx for tests: one server block from test/nginx/conf/<name>.conf (the same
 * text docs/DEPLOYMENT.md shows) wrapped in a minimal nginx.conf whose pid, logs and
 * temp paths live in a fresh temp prefix. Started in the foreground (`daemon off;`)
 * on 127.0.0.1:<free port>, stopped by its PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export type NginxConfig = 'good' | 'npm-advanced' | 'no-upgrade' | 'buffered' | 'read-timeout' | 'wrong-path'

const confDir = join(dirname(fileURLToPath(import.meta.url)), 'conf')

/** The server block of a config with its placeholders filled in. */
export function renderConfig(name: NginxConfig, vars: { listen: string; upstream: string }): string {
  return readFileSync(join(confDir, `${name}.conf`), 'utf8')
    .replaceAll('{{listen}}', vars.listen)
    .replaceAll('{{upstream}}', vars.upstream)
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

/** A port that was free a moment ago (bind port 0, read it, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

export interface Nginx {
  port: number
  pid: number
  /** `http://127.0.0.1:<port><path>` */
  url(path?: string): string
  errorLog(): string
  stop(): Promise<void>
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/** PIDs of running nginx masters, killed if the test process exits without stopping them (a crashed worker). */
const running = new Set<number>()
process.once('exit', () => {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      /* already gone */
    }
  }
})

/** Start nginx with config `name` in front of 127.0.0.1:`upstreamPort`. */
export async function startNginx(name: NginxConfig, upstreamPort: number): Promise<Nginx> {
  const bin = nginxBinary()
  let lastError = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const prefix = mkdtempSync(join(tmpdir(), `surewire-nginx-${name}-`))
    chmodSync(prefix, 0o755) // workers may run as `nobody` when the tests run as root
    for (const d of ['logs', 'tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirSync(join(prefix, d), { recursive: true, mode: 0o777 })
    for (const d of ['tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) chmodSync(join(prefix, d), 0o777)
    writeFileSync(join(prefix, 'server.conf'), renderConfig(name, { listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${upstreamPort}` }))
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
    const child: ChildProcess = spawn(bin, ['-e', errorLog, '-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    let exited = false
    const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())))
    const start = Date.now()
    while (!exited && !(await canConnect(port))) {
      if (Date.now() - start > 10_000) break
      await new Promise((r) => setTimeout(r, 20))
    }
    const log = () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '')
    if (!exited && child.pid !== undefined && (await canConnect(port))) {
      const pid = child.pid
      running.add(pid)
      void exit.then(() => running.delete(pid))
      return {
        port,
        pid,
        url: (path = '') => `http://127.0.0.1:${port}${path}`,
        errorLog: log,
        async stop() {
          if (!exited) {
            process.kill(pid, 'SIGTERM') // fast shutdown: master stops its workers
            const killTimer = setTimeout(() => !exited && process.kill(pid, 'SIGKILL'), 5_000)
            await exit
            clearTimeout(killTimer)
          }
          rmSync(prefix, { recursive: true, force: true })
        },
      }
    }
    if (!exited && child.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL')
      await exit
    }
    lastError = `${stderr}\n${log()}`
    rmSync(prefix, { recursive: true, force: true })
    if (!/Address already in use/.test(lastError)) break // only a lost port race is worth another try
  }
  throw new Error(`nginx (${name}) did not start: ${lastError.trim()}`)
}
