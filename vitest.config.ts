import { defineConfig } from 'vitest/config'

// Two projects: `client` is the behavioural suite that also runs on Node 24's
// built-in WebSocket (scripts/node24.mjs); `server` holds everything else.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'client', include: ['test/client/**/*.test.ts'] } },
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'server', include: ['test/*.test.ts'] } },
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'] } },
      { extends: true, test: { name: 'nginx', include: ['test/nginx/**/*.test.ts'] } },
      { extends: true, test: { name: 'caddy', include: ['test/caddy/**/*.test.ts'] } },
      { extends: true, test: { name: 'fastapi', include: ['test/fastapi/**/*.test.ts'] } },
      { extends: true, test: { name: 'reliability', include: ['test/reliability/**/*.test.ts'] } },
      // Needs redis-server (Debian's); each test starts its own on a free port. Part of test:e2e.
      { extends: true, test: { name: 'redis', include: ['test/redis/**/*.test.ts'] } },
    ],
  },
})
