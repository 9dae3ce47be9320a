/** Bundle the demo page with Vite (programmatic build; `surewire` resolves to this repo's source). */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import react from '@vitejs/plugin-react'
import { build } from 'vite'

const here = fileURLToPath(new URL('.', import.meta.url))
const src = fileURLToPath(new URL('../../src/', import.meta.url))

/**
 * Build into `outDir` (a fresh temp dir by default) and return it. `dev` bundles React's
 * development build, where StrictMode double-mounts and hydration/act warnings are printed.
 */
export async function buildDemo({ outDir, dev = false }: { outDir?: string; dev?: boolean } = {}): Promise<string> {
  const out = outDir ?? (await mkdtemp(join(tmpdir(), 'surewire-react-demo-')))
  await build({
    root: here,
    configFile: false,
    logLevel: 'warn',
    plugins: [react()],
    resolve: {
      alias: [
        { find: /^surewire\/react$/, replacement: join(src, 'react/index.ts') },
        { find: /^surewire$/, replacement: join(src, 'index.ts') },
      ],
    },
    define: { 'process.env.NODE_ENV': JSON.stringify(dev ? 'development' : 'production') },
    build: { outDir: out, emptyOutDir: true, sourcemap: true, minify: !dev },
  })
  return out
}
