/** @type {import('next').NextConfig} */
const nextConfig = {
  // This example lives inside the surewire repo, which has its own lockfile: the app is here.
  turbopack: { root: import.meta.dirname },
  outputFileTracingRoot: import.meta.dirname,
  // `ws` (used by surewire/server in the route handler) stays a plain Node require. surewire
  // itself is bundled: its React hooks must use the React that Next bundles for the app.
  serverExternalPackages: ['ws'],
}
export default nextConfig
