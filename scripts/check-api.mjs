// Checks the published types (run after `npm run build`):
//  - no dist/*.d.ts / *.d.cts carries an @internal member or a known internal name;
//  - src/ has no runtime import cycle (server.ts ↔ http.ts / ws.ts was one);
//  - surewire/server and surewire/server/fetch export exactly the names in scripts/api-report.json
//    (a change to the public server API is a deliberate edit of that file, reviewed with the code).
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { build } from 'esbuild'

const INTERNAL = [
  /@internal/,
  /\bsseSinks\b/,
  /\bwsLastSeen\b/,
  /\bparseOpen\b/,
  /\bstartSweep\b/,
  /\bfire\s*[<(]/,
  /\b(?:ServerCore|SessionRegistry|SessionHost|Outbox|SseStream|coreOf|bindCore|openedSocket)\b/,
  /\bdeclare class Session\b/,
  /\bwss\s*:/,
]
const failures = []
const files = readdirSync('dist').filter((f) => /\.d\.c?ts$/.test(f))
for (const f of files) {
  const text = readFileSync(`dist/${f}`, 'utf8')
  for (const re of INTERNAL) {
    const m = re.exec(text)
    if (m) {
      const line = text.slice(0, m.index).split('\n').length
      failures.push(`dist/${f}:${line}: internal name in the published types: ${JSON.stringify(m[0])}`)
    }
  }
}

/** Names a .d.ts exports, following `export … from './x.js'` into sibling declaration files. */
function exportsOf(file, seen = new Set()) {
  if (seen.has(file)) return new Set()
  seen.add(file)
  const text = readFileSync(`dist/${file}`, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '')
  const names = new Set()
  for (const m of text.matchAll(/export\s*(type\s*)?\{([^}]*)\}(?:\s*from\s*['"]\.\/([^'"]+)['"])?/g)) {
    for (const part of m[2].split(',')) {
      const p = part.trim().replace(/^type\s+/, '')
      if (!p) continue
      const as = p.split(/\s+as\s+/)
      names.add(as[1] ?? as[0])
    }
  }
  for (const m of text.matchAll(/export\s*\*\s*from\s*['"]\.\/([^'"]+)['"]/g)) {
    const target = m[1].replace(/\.c?js$/, file.endsWith('.d.cts') ? '.d.cts' : '.d.ts')
    for (const n of exportsOf(target, seen)) names.add(n)
  }
  return names
}

// Runtime import cycles in the sources of every entry (type-only imports are erased and do not count).
for (const entry of ['src/index.ts', 'src/server/index.ts', 'src/server/web.ts', 'src/react/index.ts', 'src/cli/index.ts']) {
  if (!existsSync(entry)) continue
  const { metafile } = await build({ entryPoints: [entry], bundle: true, write: false, platform: 'node', format: 'esm', metafile: true, logLevel: 'silent', packages: 'external' })
  const graph = new Map(Object.entries(metafile.inputs).map(([file, i]) => [file, i.imports.map((x) => x.path).filter((p) => p in metafile.inputs)]))
  const state = new Map()
  const stack = []
  const visit = (f) => {
    state.set(f, 'open')
    stack.push(f)
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 'open') failures.push(`import cycle: ${[...stack.slice(stack.indexOf(d)), d].join(' → ')}`)
      else if (!state.has(d)) visit(d)
    }
    stack.pop()
    state.set(f, 'done')
  }
  for (const f of graph.keys()) if (!state.has(f)) visit(f)
}

// In src/server, type-only imports count too: the server's modules form a tree (core ← adapters ← entries).
{
  const { readdirSync: ls, statSync } = await import('node:fs')
  const { dirname, join, resolve } = await import('node:path')
  const files = []
  const walk = (d) => ls(d).forEach((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : n.endsWith('.ts') && files.push(resolve(d, n))))
  walk('src/server')
  const graph = new Map()
  for (const f of files) {
    const deps = [...readFileSync(f, 'utf8').matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*['"](\.[^'"]+)['"]/gm)]
      .map((m) => resolve(dirname(f), m[1]))
      .map((p) => (files.includes(p + '.ts') ? p + '.ts' : files.includes(join(p, 'index.ts')) ? join(p, 'index.ts') : null))
      .filter(Boolean)
    graph.set(f, deps)
  }
  const state = new Map()
  const stack = []
  const rel = (f) => f.slice(resolve('.').length + 1)
  const visit = (f) => {
    state.set(f, 'open')
    stack.push(f)
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 'open') failures.push(`import cycle (types included): ${[...stack.slice(stack.indexOf(d)), d].map(rel).join(' → ')}`)
      else if (!state.has(d)) visit(d)
    }
    stack.pop()
    state.set(f, 'done')
  }
  for (const f of graph.keys()) if (!state.has(f)) visit(f)
}

const report = JSON.parse(readFileSync(new URL('./api-report.json', import.meta.url), 'utf8'))
for (const [entry, want] of Object.entries(report)) {
  for (const ext of ['.d.ts', '.d.cts']) {
    if (!existsSync(`dist/${entry}${ext}`)) {
      failures.push(`dist/${entry}${ext} is missing (run npm run build first)`)
      continue
    }
    const got = [...exportsOf(entry + ext)].sort()
    const extra = got.filter((n) => !want.includes(n))
    const missing = want.filter((n) => !got.includes(n))
    if (extra.length) failures.push(`dist/${entry}${ext} exports names not in scripts/api-report.json: ${extra.join(', ')}`)
    if (missing.length) failures.push(`dist/${entry}${ext} no longer exports: ${missing.join(', ')}`)
  }
}
if (failures.length) {
  console.error('published API check failed:\n  ' + failures.join('\n  '))
  process.exit(1)
}
console.log(`published API: ${files.length} declaration files clean; ${Object.keys(report).join(', ')} match scripts/api-report.json`)
