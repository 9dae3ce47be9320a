/**
 * Real Caddy for tests: one site block from test/caddy/conf/<name>.Caddyfile (the same
 * text docs/DEPLOYMENT.md shows) after a global options block that keeps it local and
 * self-contained: admin API off, automatic HTTPS off, listening on 127.0.0.1 only, and
 * storage, config autosave and $HOME in a fresh temp prefix. Started in the foreground
 * (`caddy run`) on 127.0.0.1:<free port>, stopped by its PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../nginx/nginx'

export type CaddyConfig = 'good'

const confDir = join(dirname(fileURLToPath(import.meta.url)), 'conf')

/** The site block of a config with its placeholders filled in. */
export function renderCaddyfile(name: CaddyConfig, vars: { site: string; upstream: string }): string {
  return readFileSync(join(confDir, `${name}.Caddyfile`), 'utf8')
    .replaceAll('{{site}}', vars.site)
    .replaceAll('{{upstream}}', vars.upstream)
}

/** The caddy binary: $CADDY, else `caddy` on PATH, else Debian's /usr/bin/caddy. */
export function caddyBinary(): string {
  const candidates = [process.env.CADDY, 'caddy', '/usr/bin/caddy'].filter((c): c is string => !!c)
  for (const c of candidates) {
    const r = spawnSync(c, ['version'], { stdio: 'ignore' })
    if (r.status === 0) return c
  }
  throw new Error('caddy not found: install it (Debian: apt-get install -y caddy; .ci/run does) or set CADDY=/path/to/caddy')
}

export interface Caddy {
  port: number
  pid: number
  /** `http://127.0.0.1:<port><path>` */
  url(path?: string): string
  /** What caddy logged (JSON lines on stderr), for failure messages. */
  log(): string
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

/** PIDs of running caddy processes, killed if the test process exits without stopping them. */
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

/** Start caddy with config `name` in front of 127.0.0.1:`upstreamPort`. */
export async function startCaddy(name: CaddyConfig, upstreamPort: number): Promise<Caddy> {
  const bin = caddyBinary()
  let lastError = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const prefix = mkdtempSync(join(tmpdir(), `surewire-caddy-${name}-`))
    const caddyfile = join(prefix, 'Caddyfile')
    writeFileSync(
      caddyfile,
      [
        '{',
        '\tadmin off',
        '\tauto_https off',
        '\tdefault_bind 127.0.0.1',
        '\tgrace_period 2s',
        '\tstorage file_system {',
        `\t\troot ${join(prefix, 'data')}`,
        '\t}',
        '}',
        '',
        renderCaddyfile(name, { site: `http://127.0.0.1:${port}`, upstream: `127.0.0.1:${upstreamPort}` }),
      ].join('\n'),
    )
    const child: ChildProcess = spawn(bin, ['run', '--config', caddyfile, '--adapter', 'caddyfile'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      // Everything caddy writes (autosave.json, .step, storage) stays in the prefix.
      env: { ...process.env, HOME: prefix, XDG_DATA_HOME: join(prefix, 'data'), XDG_CONFIG_HOME: join(prefix, 'config') },
    })
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString()
      if (stderr.length > 200_000) stderr = stderr.slice(-100_000)
    })
    let exited = false
    const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())))
    const start = Date.now()
    while (!exited && !(await canConnect(port))) {
      if (Date.now() - start > 10_000) break
      await new Promise((r) => setTimeout(r, 20))
    }
    if (!exited && child.pid !== undefined && (await canConnect(port))) {
      const pid = child.pid
      running.add(pid)
      void exit.then(() => running.delete(pid))
      return {
        port,
        pid,
        url: (path = '') => `http://127.0.0.1:${port}${path}`,
        log: () => stderr,
        async stop() {
          if (!exited) {
            process.kill(pid, 'SIGTERM') // graceful, bounded by grace_period 2s
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
    lastError = stderr
    rmSync(prefix, { recursive: true, force: true })
    if (!/address already in use/i.test(lastError)) break // only a lost port race is worth another try
  }
  throw new Error(`caddy (${name}) did not start: ${lastError.trim()}`)
}
