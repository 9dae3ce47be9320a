/**
 * The package is `"sideEffects": false`, so bundlers may drop side-effect-only statements. A
 * bundled `surewire/server` must still serve WebSocket upgrades (it once answered 426, because
 * the `ws` upgrader was installed by a top-level statement that esbuild dropped).
 */
import { fork } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { afterAll, expect, it } from 'vitest'
import { WebSocket } from 'ws'

const dir = mkdtempSync(join(tmpdir(), 'surewire-bundle-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

it('a server bundled by esbuild (sideEffects honoured) answers a WebSocket upgrade with a hello', async () => {
  const src = fileURLToPath(new URL('../src/server/index.ts', import.meta.url))
  const entry = join(dir, 'entry.ts')
  writeFileSync(
    entry,
    `import { createServer } from 'node:http'
import { createRealtimeServer } from ${JSON.stringify(src)}
const pass = { '~standard': { version: 1, vendor: 't', validate: (v: unknown) => ({ value: v }) } } as never
const http = createServer()
createRealtimeServer({ incoming: pass, outgoing: pass }).attach(http)
http.listen(0, '127.0.0.1', () => process.send!((http.address() as { port: number }).port))
`,
  )
  await build({ entryPoints: [entry], outfile: join(dir, 'server.mjs'), bundle: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'silent', nodePaths: [fileURLToPath(new URL('../node_modules', import.meta.url))] })
  // Resolve `ws` from this checkout's node_modules: run the bundle from a file next to it.
  const bundled = fileURLToPath(new URL('../node_modules/.cache/bundled-server-test.mjs', import.meta.url))
  mkdirSync(dirname(bundled), { recursive: true }) // a fresh `npm ci` has no node_modules/.cache
  writeFileSync(bundled, (await import('node:fs')).readFileSync(join(dir, 'server.mjs')))
  const child = fork(bundled, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve(m as number))
      child.once('exit', (code) => reject(new Error(`bundled server exited with ${code}`)))
    })
    const first = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/realtime?v=1`)
      ws.once('message', (d) => {
        resolve(String(d))
        ws.close()
      })
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered HTTP ${res.statusCode}`)))
      ws.once('error', reject)
    })
    expect(JSON.parse(first)).toMatchObject({ t: 'hello' })
  } finally {
    child.kill()
    rmSync(bundled, { force: true })
  }
})
