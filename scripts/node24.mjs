// Runs the client suite on a real Node 24 (its built-in WebSocket instead of `ws`).
// The `node` npm package ships the Node binary through the npm registry; it is
// installed into .cache/ rather than as a devDependency because its `node` bin
// would shadow the system Node inside every npm script.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const prefix = '.cache/node24'
const bin = `${prefix}/node_modules/node/bin/node`
if (!existsSync(bin)) {
  execFileSync('npm', ['install', '--no-save', '--no-package-lock', '--prefix', prefix, 'node@24'], { stdio: 'inherit' })
}
const version = execFileSync(bin, ['--version']).toString().trim()
console.log(`node24: running the client suite on ${version} with its built-in WebSocket`)
const r = spawnSync(bin, ['node_modules/vitest/vitest.mjs', 'run', '--project', 'client'], {
  stdio: 'inherit',
  env: { ...process.env, SUREWIRE_WS: 'native' },
})
process.exit(r.status ?? 1)
