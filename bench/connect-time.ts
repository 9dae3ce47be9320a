/**
 * `npm run bench`: time from `connect()` to the first server message (the
 * chat server's `welcome`), on loopback through the test proxy, per proxy mode:
 *
 *   pass               upgrades forwarded: WebSocket
 *   refuse             upgrades answered with HTTP 400: SSE at once
 *   hang               upgrades never answered: SSE after the head start
 *   refuse, remembered a second client sharing storage with one that already fell back
 *
 * Every run is a fresh client with default options (WebSocket from `ws`) and
 * fresh storage, except that the remembered case shares it with its primer.
 *
 *   npm run bench [-- --runs 7]
 *
 * Prints a markdown table and writes it to bench/RESULTS-connect.md.
 */
import { writeFileSync } from 'node:fs'
import { arch, cpus, platform } from 'node:os'
import { fileURLToPath } from 'node:url'
import { backoffDefaults, clientDefaults } from '../src/index'
import type { ProxyMode } from '../test/support/proxy'
import { freshStorage, startRig, summarize, timeToFirstMessage, type Rig, type Sample } from './lib'

const MAX_RUNS = 40 // keeps the whole run under two minutes (hang costs ~1.5 s a run)

function parseRuns(argv: string[]): number {
  const i = argv.findIndex((a) => a === '--runs' || a.startsWith('--runs='))
  if (i < 0) return 7
  const raw = argv[i]!.includes('=') ? argv[i]!.split('=')[1] : argv[i + 1]
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > MAX_RUNS) {
    console.error(`--runs must be an integer from 1 to ${MAX_RUNS}, got ${JSON.stringify(raw)}`)
    process.exit(2)
  }
  return n
}

interface Case {
  name: string
  what: string
  /** One measured run. */
  run(rig: Rig): Promise<Sample>
}

const measure = async (rig: Rig, mode: ProxyMode): Promise<Sample> =>
  timeToFirstMessage((await rig.proxy(mode)).url('/realtime'), { storage: freshStorage() })

const cases: Case[] = [
  { name: 'pass', what: 'forwards the upgrade', run: (rig) => measure(rig, 'pass') },
  { name: 'refuse', what: 'answers the upgrade with 400', run: (rig) => measure(rig, 'refuse') },
  { name: 'hang', what: 'accepts, never answers', run: (rig) => measure(rig, 'hang') },
  {
    name: 'refuse, remembered',
    what: 'as refuse; storage shared with a client that already fell back',
    async run(rig) {
      const url = (await rig.proxy('refuse')).url('/realtime')
      const storage = freshStorage()
      const primer = await timeToFirstMessage(url, { storage }) // learns "WebSocket is blocked here"
      if (!Number.isFinite(primer.ms)) return { ...primer, error: `primer: ${primer.error}` }
      return timeToFirstMessage(url, { storage })
    },
  },
]

const fmt = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(1) : '–')

async function main(): Promise<void> {
  const runs = parseRuns(process.argv.slice(2))
  const rig = await startRig()
  const rows: string[] = []
  let failed = 0
  try {
    // One unmeasured connection per transport first, so lazy module loading (ws, undici) is not in run 1.
    await measure(rig, 'pass')
    await measure(rig, 'refuse')
    for (const c of cases) {
      const samples: Sample[] = []
      for (let i = 0; i < runs; i++) samples.push(await c.run(rig))
      const s = summarize(samples.map((x) => x.ms))
      const opened = [...new Set(samples.map((x) => x.opened))].join(', ')
      const errors = [...new Set(samples.flatMap((x) => (x.error ? [x.error] : [])))]
      failed += runs - s.n
      rows.push(`| ${c.name} | ${c.what} | ${opened} | ${fmt(s.median)} | ${fmt(s.min)} | ${fmt(s.max)} | ${s.n}/${runs} |`)
      process.stderr.write(`  ${c.name.padEnd(20)} median ${fmt(s.median).padStart(7)} ms${errors.length ? `  errors: ${errors.join('; ')}` : ''}\n`)
    }
  } finally {
    await rig.close()
  }

  const table = [
    '| proxy mode | proxy does with the upgrade | opened via (reason) | median ms | min ms | max ms | ok runs |',
    '|---|---|---|---:|---:|---:|---:|',
    ...rows,
  ].join('\n')
  const options = [
    `connectTimeoutMs=${clientDefaults.connectTimeoutMs}`,
    `sseHeadStartMs=${clientDefaults.sseHeadStartMs}`,
    `wsFailuresBeforeFallback=${clientDefaults.wsFailuresBeforeFallback}`,
    `rememberFallbackMs=${clientDefaults.rememberFallbackMs}`,
    `backoff=fullJitterBackoff(${backoffDefaults.baseDelayMs}, ${backoffDefaults.maxDelayMs})`,
  ].join(', ')
  const cpu = cpus()
  const doc = [
    '# Connect time: `connect()` → first server message',
    '',
    `- Date: ${new Date().toISOString()}`,
    `- Node ${process.version}, ${platform()} ${arch()}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}`,
    `- ${runs} runs per mode; each run a new client with fresh storage (the remembered case shares storage with one primer client); one unmeasured warm-up connection per transport first`,
    `- Client: default options (${options}), \`WebSocket\` from \`ws\``,
    '- Path: client → test proxy (test/support/proxy.ts) → reference server running the node-chat example, all on 127.0.0.1; the first message is the server\'s `welcome`',
    '- Reproduce: `npm run bench` (`-- --runs N` for more runs)',
    '',
    table,
    '',
  ].join('\n')
  console.log(table)
  const out = fileURLToPath(new URL('./RESULTS-connect.md', import.meta.url))
  writeFileSync(out, doc)
  process.stderr.write(`\nwrote ${out}\n`)
  if (failed > 0) process.exitCode = 1
}

// Bound on the whole run; unref'd so it never keeps the process alive itself.
setTimeout(() => {
  console.error('bench: still running after 115 s; giving up')
  process.exit(1)
}, 115_000).unref()

await main()
