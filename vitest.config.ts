import { defineConfig } from 'vitest/config'
import { e2e, unit } from './test/projects.mjs'

// The projects live in test/projects.mjs: `unit` ones run in `npm test` (Node and npm only),
// `e2e` ones in `npm run test:e2e` (system software). `client` is the behavioural suite that
// also runs on Node 24's built-in WebSocket, Bun and Deno (scripts/runtimes.mjs).
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 30_000,
    projects: [...unit, ...e2e].map(({ name, include }) => ({ extends: true, test: { name, include } })),
  },
})
