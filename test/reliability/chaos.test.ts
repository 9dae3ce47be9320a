/**
 * Delivery under faults: 20,000 sequenced messages each way through a proxy that
 * drops, refuses, stalls, and a server that restarts. Seeded: a failure prints
 * the seed, and SUREWIRE_SEED=<seed> replays the same schedule.
 * The larger-N variant is `npx tsx bench/chaos.ts`.
 */
import { describe, expect, it } from 'vitest'
import { formatReport, runChaos, schedule } from './chaos-scenario'
import { seedFromEnv, withSeed } from './support'

const seed = seedFromEnv()

describe('chaos', () => {
  it('the schedule is a function of the seed and has every fault', () => {
    const a = schedule(seed, 20_000, 60)
    expect(schedule(seed, 20_000, 60)).toEqual(a)
    const kinds = a.map((s) => s.kind)
    expect(kinds.filter((k) => k === 'drop')).toHaveLength(60)
    for (const k of ['refuse', 'pass', 'restart'] as const) expect(kinds.filter((x) => x === k)).toHaveLength(1)
    expect(kinds.filter((k) => k === 'stall')).toHaveLength(2)
    // The SSE stall falls inside the refuse window.
    const refuse = a.findIndex((s) => s.kind === 'refuse')
    const pass = a.findIndex((s) => s.kind === 'pass')
    expect(a.slice(refuse, pass).some((s) => s.kind === 'stall')).toBe(true)
  })

  it(
    'delivers every message exactly once and in order each way, except across the announced reset',
    () =>
      withSeed(seed, 'chaos', async () => {
        const report = await runChaos({ seed, messages: 20_000, drops: 60 })
        console.log(formatReport(report))
        const { faults, serverToClient: s2c, clientToServer: c2s, client } = report

        expect(faults.drops).toBeGreaterThanOrEqual(50)
        expect(faults.refusedUpgrades).toBeGreaterThan(0)
        expect(report.openReasons.ws_refused).toBeGreaterThan(0) // WebSocket → SSE
        expect(report.openReasons.ws_restored).toBeGreaterThan(0) // SSE → WebSocket by the probe
        expect([...report.stallDetections].sort()).toEqual(['pong_timeout', 'sse_silent'])
        expect(faults.restarts).toBe(1)

        expect(s2c.problems).toEqual([])
        expect(c2s.problems).toEqual([])
        expect(s2c.delivered + s2c.lostAcrossReset).toBe(20_000)
        expect(c2s.delivered).toBe(20_000) // the client re-sends across a restart: nothing lost that way
        expect(client.resetReasons).toEqual(['session_unknown'])
        expect(client.resets).toBe(1)
        // Resumed at least once per drop that did not coincide with the restart.
        expect(client.resumes).toBeGreaterThanOrEqual(faults.drops - 1)
        // Nothing malformed from a well-behaved server.
        expect(report.clientErrors.filter((e) => /FrameError|invalid/.test(e))).toEqual([])
      }),
    180_000,
  )
})
