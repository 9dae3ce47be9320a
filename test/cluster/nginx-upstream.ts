/**
 * Real nginx in front of N upstream ports with the round-robin `upstream` of ./upstream.conf,
 * through the shared runner in test/support/nginx.ts.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startNginxWith, type Nginx } from '../support/nginx'

const template = join(dirname(fileURLToPath(import.meta.url)), 'upstream.conf')

/** The server block for `ports`, as docs/DEPLOYMENT.md shows it. */
export function renderUpstream(listen: string, ports: number[]): string {
  const servers = ports.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join('\n')
  return readFileSync(template, 'utf8').replaceAll('{{listen}}', listen).replaceAll('{{servers}}', servers)
}

export function startNginxUpstream(ports: number[]): Promise<Nginx> {
  return startNginxWith('cluster', (listen) => renderUpstream(listen, ports))
}
