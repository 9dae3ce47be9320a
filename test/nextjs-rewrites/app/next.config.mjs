// A Next.js app whose same-origin /realtime is rewritten to a separate surewire server, the
// shortcut docs/DEPLOYMENT.md discusses. The upstreams are fixed at build time:
// REALTIME_UPSTREAM (default server) and TRUSTED_UPSTREAM (one with trustForwardedHost).
const upstream = process.env.REALTIME_UPSTREAM ?? 'http://127.0.0.1:3000'
const trusted = process.env.TRUSTED_UPSTREAM ?? 'http://127.0.0.1:3001'

/** @type {import('next').NextConfig} */
export default {
  outputFileTracingRoot: import.meta.dirname,
  async rewrites() {
    return [
      { source: '/realtime', destination: `${upstream}/realtime` },
      { source: '/trusted/realtime', destination: `${trusted}/realtime` },
    ]
  },
}
