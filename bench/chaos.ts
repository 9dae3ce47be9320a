/**
 * The chaos scenario of test/reliability/chaos.test.ts at a larger scale: one client,
 * N sequenced messages each way through the misbehaving proxy, with drops, a refuse
 * window (WebSocket → SSE → WebSocket), stalls and a server restart on a seeded schedule.
 * Prints the report; exits non-zero if any message was lost, duplicated or reordered
 * outside the announced reset.
 *
 *   npx tsx bench/chaos.ts [--seed 123] [--messages 200000] [--drops 300] [--rate 2000] [--runs 1]
 *
 * Not part of `npm test` (a run of 200,000 messages takes a few minutes).
 */
import { formatReport, runChaos } from '../test/reliability/chaos-scenario'
import { seedFromEnv } from '../test/reliability/support'

function arg(name: string, fallback: number): number {
  const argv = process.argv.slice(2)
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`))
  if (i < 0) return fallback
  const raw = argv[i]!.includes('=') ? argv[i]!.split('=')[1] : argv[i + 1]
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got ${JSON.stringify(raw)}`)
    process.exit(2)
  }
  return n
}

const messages = arg('messages', 200_000)
const rate = arg('rate', 2_000)
const drops = arg('drops', Math.max(50, Math.round(messages / 700)))
const runs = arg('runs', 1)
let seed = arg('seed', seedFromEnv())
let failed = false
for (let run = 0; run < runs; run++, seed = (seed + 1) >>> 0) {
  const report = await runChaos({ seed, messages, drops, ratePerSecond: rate, timeoutMs: Math.max(150_000, (messages / rate) * 4_000), log: () => {} })
  console.log(formatReport(report))
  const problems = [...report.serverToClient.problems, ...report.clientToServer.problems]
  if (problems.length || report.client.resets !== report.faults.restarts) {
    failed = true
    console.log(`  PROBLEMS (replay with --seed ${seed}):\n    ${problems.join('\n    ')}`)
  }
}
process.exitCode = failed ? 1 : 0
