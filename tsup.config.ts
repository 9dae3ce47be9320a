import { defineConfig } from 'tsup'

export default defineConfig({
  // surewire/react imports only types from the client, so react.js holds just the hooks.
  entry: { index: 'src/index.ts', server: 'src/server/index.ts', 'server-fetch': 'src/server/web.ts', redis: 'src/redis/index.ts', react: 'src/react/index.ts', cli: 'src/cli/index.ts' },
  format: ['esm', 'cjs'],
  external: ['react', 'redis'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  // esbuild tree-shakes while bundling; tsup's extra rollup pass (treeshake: true) would strip
  // the 'use client' directive that react.js / react.cjs must start with for Next.js.
  treeshake: false,
})
