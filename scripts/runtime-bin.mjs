// The other JavaScript runtimes the tests run on, from the npm registry: `node@24`, `bun` and
// `deno` ship their binaries as npm packages. Each is installed into .cache/<name>/ on first use
// rather than as a devDependency, because their bins (`node`, `bun`, `deno`) would shadow the
// system Node inside every npm script.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** name → npm package spec and the binary inside it. */
export const runtimes = {
  node24: { spec: 'node@24', bin: 'node_modules/node/bin/node' },
  bun: { spec: 'bun@1', bin: 'node_modules/bun/bin/bun.exe' },
  deno: { spec: 'deno@2', bin: 'node_modules/deno/deno' },
}

/**
 * The absolute path of runtime `name`'s binary, installing it into .cache/<name>/ first when it
 * is not there (`npm install` needs the registry once; later runs are offline).
 * @param {'node24' | 'bun' | 'deno'} name
 * @returns {string}
 */
export function runtimeBinary(name) {
  const rt = runtimes[name]
  if (!rt) throw new Error(`unknown runtime ${name}: one of ${Object.keys(runtimes).join(', ')}`)
  const prefix = join(root, '.cache', name)
  const bin = join(prefix, rt.bin)
  if (!existsSync(bin)) {
    execFileSync('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', prefix, rt.spec], { stdio: ['ignore', 'ignore', 'inherit'] })
  }
  if (!existsSync(bin)) throw new Error(`${rt.spec} installed into ${prefix} but ${bin} is missing`)
  // bun and deno put the real binary in place from their postinstall script: a placeholder that
  // does not run means npm skipped it.
  const probe = spawnSync(bin, ['--version'], { encoding: 'utf8' })
  if (probe.status !== 0) {
    throw new Error(`${bin} does not run (${(probe.stderr || String(probe.error)).trim().slice(0, 200)}): did npm skip ${rt.spec}'s install script? Remove ${prefix} and retry with scripts allowed.`)
  }
  return bin
}
