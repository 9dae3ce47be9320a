/**
 * Real Caddy for tests: one site block from test/caddy/conf/<name>.Caddyfile (the same
 * text docs/DEPLOYMENT.md shows) after a global options block that keeps it local and
 * self-contained: admin API off, automatic HTTPS off, listening on 127.0.0.1 only, and
 * storage, config autosave and $HOME in a fresh temp prefix. Started in the foreground
 * (`caddy run`) on 127.0.0.1:<free port>, stopped by its PID.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startDaemon } from '../support/daemon'

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
    const d = await startDaemon(bin, ['run', '--config', caddyfile, '--adapter', 'caddyfile'], {
      port,
      prefix,
      // Everything caddy writes (autosave.json, .step, storage) stays in the prefix.
      env: { ...process.env, HOME: prefix, XDG_DATA_HOME: join(prefix, 'data'), XDG_CONFIG_HOME: join(prefix, 'config') },
    })
    if (!('failed' in d)) return { port, pid: d.pid, url: (path = '') => `http://127.0.0.1:${port}${path}`, log: d.stderr, stop: d.stop }
    lastError = d.failed
    if (!/address already in use/i.test(lastError)) break // only a lost port race is worth another try
  }
  throw new Error(`caddy (${name}) did not start: ${lastError.trim()}`)
}
