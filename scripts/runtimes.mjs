// Runs the client behaviour suite (vitest project `client`, test/client/*.test.ts) on the other
// runtimes: `node scripts/runtimes.mjs [node24] [bun] [deno]` (all three by default). Node 20 runs
// it in `npm run test:unit`. Each binary comes from npm into .cache/ (scripts/runtime-bin.mjs).
//
//  - node24: vitest itself on Node 24, with Node's built-in WebSocket (SUREWIRE_WS=native).
//  - deno:   vitest itself on Deno (`deno run -A`): its worker processes are Deno too, the client
//            uses Deno's WebSocket and fetch; the reference server runs on Deno's node:http.
//  - bun:    vitest does not run on Bun (its module runner loses zod's exports), so the same
//            test files run under `bun test`, which maps `vitest` imports onto bun:test
//            (test/runtimes/bun-preload.mjs fills the one `vi` call Bun lacks). Bun's WebSocket
//            and fetch; the reference server runs on Bun's node:http.
// test/client/runtime.test.ts fails a run that is not on the runtime it claims.
import { spawnSync } from 'node:child_process'
import { runtimeBinary } from './runtime-bin.mjs'

const commands = {
  node24: (bin) => [bin, ['node_modules/vitest/vitest.mjs', 'run', '--project', 'client'], { SUREWIRE_WS: 'native' }],
  deno: (bin) => [bin, ['run', '-A', 'node_modules/vitest/vitest.mjs', 'run', '--project', 'client'], {}],
  bun: (bin) => [bin, ['test', '--preload', './test/runtimes/bun-preload.mjs', '--timeout', '60000', './test/client/'], {}],
}

const wanted = process.argv.slice(2)
const names = wanted.length ? wanted : Object.keys(commands)
const failed = []
for (const name of names) {
  if (!commands[name]) {
    console.error(`runtimes: unknown runtime ${name}; one of ${Object.keys(commands).join(', ')}`)
    process.exit(2)
  }
  const [bin, args, env] = commands[name](runtimeBinary(name))
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0].trim()
  console.log(`\nruntimes: the client suite on ${name} (${version})`)
  const started = Date.now()
  const r = spawnSync(bin, args, { stdio: 'inherit', env: { ...process.env, ...env, SUREWIRE_RUNTIME: name } })
  console.log(`runtimes: ${name} ${r.status === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  if (r.status !== 0) failed.push(name)
}
if (failed.length) {
  console.error(`runtimes: the client suite failed on ${failed.join(', ')}`)
  process.exit(1)
}
