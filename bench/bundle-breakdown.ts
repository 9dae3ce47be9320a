/**
 * Where the browser bundle's bytes are: `npx tsx bench/bundle-breakdown.ts [names]`.
 * Bundles `export { RealtimeClient } from 'surewire'` (or the given comma-separated names) from src/
 * the way bench section 7 and size-limit do (BROWSER_APP_BUILD), prints the total min and min+gzip,
 * each module's minified bytes, and what each module costs in gzip: the total minus the gzip of the
 * same bundle with that module's output cut out (an estimate: gzip is not additive).
 */
import { readFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import { build, type Plugin } from 'esbuild'
import { BROWSER_APP_BUILD } from './suite/bundle'

const args = process.argv.slice(2)
const names = args.find((a) => !a.startsWith('--')) ?? 'RealtimeClient'
const gz = (s: string): number => gzipSync(s, { level: 9 }).length
const START = '"@@surewire-start@@"'
const END = '"@@surewire-end@@"'

async function bundle(plugins: Plugin[] = []) {
  const stdin = { contents: `export { ${names} } from './src/index.ts'`, resolveDir: process.cwd(), loader: 'ts' as const }
  return build({ ...BROWSER_APP_BUILD, stdin, metafile: true, legalComments: 'none', plugins })
}

/** Wraps one module's source in two statements minification keeps, so its output can be cut out. */
function marked(file: string): Plugin {
  return {
    name: 'marked',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (a) => {
        if (!a.path.endsWith(`/${file}`)) return undefined
        const src = await readFile(a.path, 'utf8')
        return { contents: `globalThis[${START}];\n${src}\nglobalThis[${END}];`, loader: 'ts' }
      })
    },
  }
}

const whole = await bundle()
const text = whole.outputFiles[0]!.text
const total = gz(text)
console.log(`{ ${names} }: ${text.length} B min, ${total} B min+gzip`)

const inputs = Object.entries(Object.values(whole.metafile.outputs)[0]!.inputs)
  .filter(([, v]) => v.bytesInOutput > 0)
  .sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput)
const cut = await Promise.all(inputs.map(async ([file]) => (await bundle([marked(file)])).outputFiles[0]!.text))
console.log('   min B  ~gzip B  module')
inputs.forEach(([file, v], i) => {
  const t = cut[i]!
  const a = t.indexOf(START)
  const b = t.indexOf(END)
  const cost = a >= 0 && b > a ? total - gz(t.slice(0, a) + t.slice(b)) : NaN
  console.log(String(v.bytesInOutput).padStart(8), String(cost).padStart(8), ' ', file)
})

