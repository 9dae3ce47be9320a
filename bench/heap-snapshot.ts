/**
 * `npx tsx bench/heap-snapshot.ts`: where idle connections live on the heap, server or client side.
 * Server (default): one stack's server alone (bench/suite/solo.ts, --expose-gc), a V8 heap snapshot
 * after one connection came and went (baseline), another with `--clients` idle clients connected
 * (client processes: bench/suite/fleet.ts). Client (`--side client`): the same in the client worker
 * of section 5 (bench/suite/client.ts, `heap` task), against a solo server. Prints the difference by
 * constructor (objects and bytes per connection), largest first. Loopback only; stops by itself.
 *
 *   npx tsx bench/heap-snapshot.ts                          server, surewire WebSocket, 2,000 clients
 *   npx tsx bench/heap-snapshot.ts --impl surewire-sse --clients 1000 --top 40
 *   npx tsx bench/heap-snapshot.ts --side client --clients 1000   surewire's client, WebSocket
 *   npx tsx bench/heap-snapshot.ts --impl socketio-ws --keep  (keep the .heapsnapshot files; print their paths)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fork } from 'node:child_process'
import { buildBenchWorkers, startFleet, startSolo, until, type Solo } from './suite/procs'
import type { FleetImpl, HeapImpl, ServerPorts, SoloStack, Task } from './suite/shared'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BUILD_DIR = join(ROOT, 'node_modules/.cache/surewire-bench')
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1]! : fallback
}
const impl = arg('impl', 'surewire-ws') as FleetImpl
const clients = Number(arg('clients', '2000'))
const top = Number(arg('top', '30'))
const keep = process.argv.includes('--keep')
const side = arg('side', 'server')
if (side !== 'server' && side !== 'client') throw new Error('--side is server or client')
const stack: SoloStack = impl.startsWith('surewire') ? 'surewire' : impl.startsWith('socketio') ? 'socketio' : 'raw-ws'

interface Row {
  count: number
  bytes: number
}

/** Self size and count per "constructor" (V8's node name for objects; a kind for the rest). */
function byConstructor(file: string): Map<string, Row> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }
    nodes: number[]
    strings: string[]
  }
  const fields = snap.snapshot.meta.node_fields
  const types = snap.snapshot.meta.node_types[0]
  const [T, N, S] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number]
  const out = new Map<string, Row>()
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + T]!]!
    const name = snap.strings[snap.nodes[i + N]!]!
    const key =
      type === 'object' ? name
      : type === 'closure' ? `(closure) ${name || 'anonymous'}`
      : type === 'hidden' || type === 'object shape' ? `(${type}) ${name.slice(0, 40)}`
      : type.includes('string') ? '(string)'
      : `(${type})`
    const row = out.get(key) ?? out.set(key, { count: 0, bytes: 0 }).get(key)!
    row.count++
    row.bytes += snap.nodes[i + S]!
  }
  return out
}

/** Server side: snapshots of the solo server's heap. */
async function serverSnapshots(solo: Solo, dir: string): Promise<[string, string]> {
  const connected = (n: number) => until(`${n} connections`, async () => (await solo.request<number>({ cmd: 'connections' })) === n)
  const warm = await startFleet(BUILD_DIR, { impl, port: solo.port, clients: 1 })
  await connected(1)
  await warm.close()
  await connected(0)
  const baseFile = await solo.request<string>({ cmd: 'snapshot', file: join(dir, 'base.heapsnapshot') })
  const per = Math.ceil(clients / 2)
  const fleets = await Promise.all([0, 1].map((i) => startFleet(BUILD_DIR, { impl, port: solo.port, clients: Math.min(per, clients - i * per) })))
  await connected(clients)
  await new Promise((r) => setTimeout(r, 500))
  const loadedFile = await solo.request<string>({ cmd: 'snapshot', file: join(dir, 'loaded.heapsnapshot') })
  await Promise.all(fleets.map((x) => x.close()))
  return [baseFile, loadedFile]
}

/** Client side: the `heap` task of bench/suite/client.ts writes the two snapshots. */
async function clientSnapshots(solo: Solo, dir: string): Promise<[string, string]> {
  const port = solo.port
  const ports: ServerPorts = { surewire: port, socketio: port, rawWs: port, rawSse: 0, proxies: { surewire: { pass: 0, refuse: 0, hang: 0 }, socketio: { pass: 0, refuse: 0, hang: 0 } } }
  const task: Task = { kind: 'heap', impl: impl as HeapImpl, clients, snapshotDir: dir }
  const proc = fork(join(BUILD_DIR, 'client.mjs'), [JSON.stringify(task), JSON.stringify(ports)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const timer = setTimeout(() => proc.kill('SIGKILL'), 180_000)
  const code = await new Promise<number | null>((r) => proc.once('exit', r))
  clearTimeout(timer)
  if (code !== 0) throw new Error(`client heap task failed (exit ${code})`)
  return [join(dir, 'base.heapsnapshot'), join(dir, 'loaded.heapsnapshot')]
}

await buildBenchWorkers(join(ROOT, 'bench/suite'), BUILD_DIR)
const dir = mkdtempSync(join(tmpdir(), 'surewire-heap-'))
const solo = await startSolo(BUILD_DIR, stack, side === 'server' ? ['--expose-gc'] : [])
try {
  const [baseFile, loadedFile] = side === 'server' ? await serverSnapshots(solo, dir) : await clientSnapshots(solo, dir)
  const [base, loaded] = [byConstructor(baseFile), byConstructor(loadedFile)]
  const diff = [...loaded].map(([key, r]) => {
    const b = base.get(key) ?? { count: 0, bytes: 0 }
    return { key, count: (r.count - b.count) / clients, bytes: (r.bytes - b.bytes) / clients }
  })
  diff.sort((a, b) => b.bytes - a.bytes)
  const total = diff.reduce((s, d) => s + d.bytes, 0)
  console.log(`${side} side, ${impl}: ${clients} idle connections, self size per connection by constructor (snapshot difference)\n`)
  console.log(`${'constructor'.padEnd(48)} ${'objects'.padStart(8)} ${'bytes'.padStart(8)}`)
  for (const d of diff.slice(0, top)) console.log(`${d.key.slice(0, 48).padEnd(48)} ${d.count.toFixed(2).padStart(8)} ${d.bytes.toFixed(0).padStart(8)}`)
  console.log(`${'total'.padEnd(48)} ${''.padStart(8)} ${total.toFixed(0).padStart(8)}`)
  if (keep) console.log(`\nsnapshots: ${baseFile} ${loadedFile}`)
} finally {
  await solo.stop()
  if (!keep) rmSync(dir, { recursive: true, force: true })
}
