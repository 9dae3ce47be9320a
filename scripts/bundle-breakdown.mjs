#!/usr/bin/env node
// Where the browser bundle's bytes are: `node scripts/bundle-breakdown.mjs [import] [--strings]`.
// Bundles `import { RealtimeClient } from 'surewire'` (or the given named imports) from src/ the way
// size-limit and bench section 7 do (esbuild, platform browser, ESM, minified, tree-shaken, es2022),
// prints the total min and min+gzip, each module's minified bytes, and what each module costs in
// gzip (total gzip minus the gzip of the bundle with that module's output removed: an estimate, as
// gzip is not additive). `--strings`: the longest string literals, and the gzip without any.
import { build } from 'esbuild'
import { gzipSync } from 'node:zlib'

const args = process.argv.slice(2)
const names = args.find((a) => !a.startsWith('--')) ?? 'RealtimeClient'
const gz = (s) => gzipSync(s, { level: 9 }).length

const result = await build({
  stdin: { contents: `export { ${names} } from './src/index.ts'`, resolveDir: process.cwd(), loader: 'ts' },
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  metafile: true,
  legalComments: 'none',
})
const text = result.outputFiles[0].text
const total = gz(text)
console.log(`{ ${names} }: ${text.length} B min, ${total} B min+gzip`)

// Per module: esbuild's bytesInOutput, and the gzip saved if that module's code were absent.
const inputs = Object.entries(Object.values(result.metafile.outputs)[0].inputs)
  .filter(([, v]) => v.bytesInOutput > 0)
  .sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput)
const perModule = await Promise.all(
  inputs.map(async ([file]) => {
    const without = await build({
      stdin: { contents: `export { ${names} } from './src/index.ts'`, resolveDir: process.cwd(), loader: 'ts' },
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      metafile: true,
      legalComments: 'none',
      plugins: [marker(file)],
    })
    return without.outputFiles[0].text
  }),
)
console.log('   min B  ~gzip B  module')
inputs.forEach(([file, v], i) => {
  // The module's code is wrapped in markers; cutting it out gives the bundle without it.
  const t = perModule[i]
  const a = t.indexOf('"@@surewire-start@@"')
  const b = t.indexOf('"@@surewire-end@@"')
  const cost = a >= 0 && b > a ? total - gz(t.slice(0, a) + t.slice(b)) : NaN
  console.log(String(v.bytesInOutput).padStart(8), String(cost).padStart(8), ' ', file)
})

if (args.includes('--strings')) {
  const re = /"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`|'(?:[^'\\]|\\.)*'/g
  const strs = text.match(re) ?? []
  console.log(`\nstring literals: ${strs.length}, ${strs.reduce((n, s) => n + s.length, 0)} chars; gzip with all of them empty: ${gz(text.replace(re, '""'))} B`)
  for (const s of strs.filter((x) => x.length > 30).sort((x, y) => y.length - x.length).slice(0, 40)) console.log(String(s.length).padStart(5), s.slice(0, 150))
}

/** Wraps one module's source in two string statements, so its output can be found and cut out. */
function marker(file) {
  return {
    name: 'marker',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (a) => {
        if (!a.path.endsWith(file.replace(/^src\//, '/src/').replace(/^\/+/, '/'))) return undefined
        const { readFile } = await import('node:fs/promises')
        const src = await readFile(a.path, 'utf8')
        // Statements that survive minification at the module's start and end (side effects keep them).
        return { contents: `globalThis["@@surewire-start@@"];\n${src}\nglobalThis["@@surewire-end@@"];`, loader: 'ts' }
      })
    },
  }
}
