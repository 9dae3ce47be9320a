// Checks the built surewire/react (run after `npm run build`):
//  - dist/react.js and dist/react.cjs start with the 'use client' directive (Next.js needs it
//    to treat the hooks as client code; bundlers drop it easily);
//  - they import nothing but react (the hooks stay a separate, small entry);
//  - importing them touches no browser global (safe in SSR and React Server Components).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const failures = []
for (const file of ['dist/react.js', 'dist/react.cjs']) {
  const code = readFileSync(file, 'utf8')
  // The directive prologue: string-literal statements before any other code.
  const prologue = /^(?:\s*(?:"[^"]*"|'[^']*');?)*/.exec(code)[0]
  if (!/["']use client["']/.test(prologue)) failures.push(`${file}: does not start with 'use client' (prologue: ${JSON.stringify(prologue.trim())})`)
  const imports = [...code.matchAll(/(?:\bfrom\s*|\brequire\(\s*|\bimport\(\s*)["']([^"']+)["']/g)].map((m) => m[1])
  const foreign = imports.filter((i) => i !== 'react')
  if (foreign.length) failures.push(`${file}: imports ${foreign.join(', ')}; only react is expected`)
}

for (const name of ['window', 'document', 'localStorage', 'sessionStorage', 'location', 'navigator']) {
  Object.defineProperty(globalThis, name, {
    configurable: true,
    get() {
      throw new Error(`surewire/react touched \`${name}\` at import time`)
    },
  })
}
try {
  const esm = await import(new URL('../dist/react.js', import.meta.url).href)
  const cjs = createRequire(import.meta.url)('../dist/react.cjs')
  for (const mod of [esm, cjs]) {
    for (const name of ['RealtimeProvider', 'useRealtime', 'useRealtimeMessage', 'useLatestMessage', 'useRealtimeClient']) {
      if (typeof mod[name] !== 'function') failures.push(`surewire/react does not export ${name}`)
    }
  }
} catch (err) {
  failures.push(String(err?.message ?? err))
}

if (failures.length) {
  console.error(`check-react-dist: ${failures.length} problem(s)\n  ${failures.join('\n  ')}`)
  process.exit(1)
}
console.log("check-react-dist: 'use client' kept, imports only react, no browser globals at import")
