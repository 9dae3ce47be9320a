/**
 * Measurement 7: browser bundle size. esbuild bundles an entry as a browser app
 * would (platform browser, ESM, minified, tree-shaken, NODE_ENV=production); the output is measured
 * raw, gzip (level 9) and brotli (quality 11).
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import { build, type BuildOptions } from 'esbuild'

export interface BundleSize {
  name: string
  /** What the entry imports. */
  what: string
  min: number
  gzip: number
  brotli: number
}

/** How an app's bundler builds the client for a browser: the options of every size figure (and of bench/bundle-breakdown.ts). */
export const BROWSER_APP_BUILD = {
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  logLevel: 'silent',
  define: { 'process.env.NODE_ENV': '"production"' },
} as const satisfies BuildOptions

async function measure(root: string, name: string, what: string, contents: string, external: string[] = []): Promise<BundleSize> {
  const out = await build({ ...BROWSER_APP_BUILD, stdin: { contents, resolveDir: root, loader: 'ts', sourcefile: 'bench-entry.ts' }, external })
  const code = out.outputFiles[0]!.contents
  return {
    name,
    what,
    min: code.length,
    gzip: gzipSync(code, { level: 9 }).length,
    brotli: brotliCompressSync(code, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  }
}

/** The react entry, if the package has one yet. */
export function reactEntry(root: string): string | undefined {
  for (const f of ['src/react/index.ts', 'src/react/index.tsx', 'src/react.ts', 'src/react.tsx']) if (existsSync(join(root, f))) return f
  return undefined
}

export async function bundleSizes(root: string): Promise<{ sizes: BundleSize[]; reactMissing: boolean }> {
  const sizes = [
    await measure(root, 'surewire', 'everything `surewire` exports', `export * from './src/index'`),
    await measure(root, 'surewire (RealtimeClient only)', '`import { RealtimeClient } from "surewire"`', `export { RealtimeClient } from './src/index'`),
  ]
  const react = reactEntry(root)
  if (react) {
    sizes.push(
      await measure(root, 'surewire + surewire/react', 'everything from both entries; react external', `export * from './src/index'\nexport * from './${react.replace(/\.tsx?$/, '')}'`, [
        'react',
        'react-dom',
        'react/jsx-runtime',
      ]),
      await measure(
        root,
        'surewire (RealtimeClient) + surewire/react',
        '`{ RealtimeClient }` and every hook; react external (the hooks\' cost on top of the client row)',
        `export { RealtimeClient } from './src/index'\nexport * from './${react.replace(/\.tsx?$/, '')}'`,
        ['react', 'react-dom', 'react/jsx-runtime'],
      ),
    )
  }
  sizes.push(await measure(root, 'socket.io-client', '`import { io } from "socket.io-client"`', `export { io } from 'socket.io-client'`))
  return { sizes, reactMissing: !react }
}
