/**
 * nginx with one of the server blocks of test/nginx/conf/<name>.conf (the same text
 * docs/DEPLOYMENT.md shows), through the shared runner in test/support/nginx.ts.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startNginxWith, type Nginx } from '../support/nginx'

export type { Nginx } from '../support/nginx'

export type NginxConfig = 'good' | 'npm-advanced' | 'no-upgrade' | 'buffered' | 'read-timeout' | 'wrong-path' | 'host-rewrite' | 'round-robin'

const confDir = join(dirname(fileURLToPath(import.meta.url)), 'conf')

/** The server block of a config with its placeholders filled in. */
export function renderConfig(name: NginxConfig, vars: { listen: string; upstream: string; upstream2?: string }): string {
  return readFileSync(join(confDir, `${name}.conf`), 'utf8')
    .replaceAll('{{listen}}', vars.listen)
    .replaceAll('{{upstream}}', vars.upstream)
    .replaceAll('{{upstream2}}', vars.upstream2 ?? '127.0.0.1:3001')
}

/** Start nginx with config `name` in front of 127.0.0.1:`upstreamPort` (two ports for round-robin). */
export function startNginx(name: NginxConfig, upstreamPort: number | [number, number]): Promise<Nginx> {
  const [up1, up2] = Array.isArray(upstreamPort) ? upstreamPort : [upstreamPort, undefined]
  const vars = (listen: string) => ({ listen, upstream: `127.0.0.1:${up1}`, upstream2: up2 === undefined ? undefined : `127.0.0.1:${up2}` })
  return startNginxWith(name, (listen) => renderConfig(name, vars(listen)), { workerConnections: 256 })
}
