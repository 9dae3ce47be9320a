// Checks that surewire/server/fetch (createFetchHandler and the server it serves) runs where only
// Web APIs exist: bundling it for a neutral / browser platform must not pull any node: module
// nor `ws`. Run after `npm run build` (it bundles both the source entry and dist/server-fetch.js).
import { builtinModules } from 'node:module'
import { build } from 'esbuild'

const nodeOnly = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)])
const failures = []
for (const [entry, platform] of [
  ['src/server/web.ts', 'neutral'],
  ['src/server/web.ts', 'browser'],
  ['dist/server-fetch.js', 'neutral'],
  ['dist/server-fetch.js', 'browser'],
]) {
  const pulled = []
  const guard = {
    name: 'no-node',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const bare = args.path.split('/')[0]
        if (nodeOnly.has(args.path) || args.path.startsWith('node:') || bare === 'ws') {
          pulled.push(`${args.path} (imported by ${args.importer})`)
          return { path: args.path, external: true }
        }
        return undefined
      })
    },
  }
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform,
    format: 'esm',
    mainFields: ['module', 'main'],
    logLevel: 'silent',
    plugins: [guard],
    metafile: true,
  }).catch((err) => ({ errors: err.errors ?? [{ text: String(err) }] }))
  for (const e of result.errors ?? []) failures.push(`${entry} (${platform}): ${e.text}`)
  for (const p of pulled) failures.push(`${entry} (${platform}) pulls ${p}`)
  if (result.metafile && pulled.length === 0) {
    const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
    console.log(`${entry} (${platform}): bundled, ${bytes} bytes, no node: module, no ws`)
  }
}
if (failures.length) {
  console.error('surewire/server/fetch must load only Web APIs:\n  ' + failures.join('\n  '))
  process.exit(1)
}
