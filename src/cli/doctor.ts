/**
 * `surewire doctor <url>`: probe a deployment the way clients will use it and say which
 * transport they will get, and for every failure the most likely cause and its fix.
 *
 * Probes, in order, each timed: DNS, TCP, TLS (https), plain HTTP to the endpoint, the
 * raw WebSocket handshake (status line, Server header), surewire hello + ping on
 * WebSocket, the SSE stream (time to headers / first byte / hello; live or held back),
 * a POST round trip, CORS preflight for `origin`, and optionally an idle period to find
 * a proxy's read timeout.
 *
 * The probes live in ./probes (one file each), the cause analysis and the verdict in
 * ./verdict; this file runs them in order.
 */
import { resolveEndpoints } from '../client/url'
import { probeCors } from './probes/cors'
import { probePlainHttp } from './probes/http'
import { probeIdle } from './probes/idle'
import { probeNetwork } from './probes/network'
import { checkOrigin } from './probes/origin'
import { endSession, probePost } from './probes/post'
import { probeSse } from './probes/sse'
import { probeWebSocket } from './probes/ws'
import type { DoctorOptions, DoctorReport, Run } from './types'
import { buildReport, diagnoseSse, diagnoseWebSocket } from './verdict'

export type { Cause, DoctorOptions, DoctorReport, Finding, Probe, ProbeName } from './types'

function createRun(target: string, options: DoctorOptions): Run {
  const ep = resolveEndpoints(target, options.paths)
  return {
    target,
    options,
    timeoutMs: options.timeoutMs ?? 5_000,
    ep,
    path: ep.sse.pathname,
    common: options.origin ? { Origin: new URL(options.origin).origin } : {},
    auth: options.token ? { Authorization: `Bearer ${options.token}` } : {},
    crossOrigin: false,
    probes: [],
    findings: [],
  }
}

/** Probe a deployment. Never throws for network trouble: that is what the report is for. */
export async function runDoctor(target: string, options: DoctorOptions = {}): Promise<DoctorReport> {
  const run = createRun(target, options)
  const report = (transport: DoctorReport['transport']) => buildReport(run, transport)

  checkOrigin(run)
  if (!(await probeNetwork(run))) return report(null)
  const plain = await probePlainHttp(run)
  const ws = await probeWebSocket(run)
  const wsOk = ws.hello?.ok === true
  const sse = await probeSse(run)
  const sseOk = sse.probe.ok === true
  const postOk = await probePost(run, sse.sid ?? ws.sid, { ws: wsOk, sse: sseOk })
  await probeCors(run, ws.status)

  if (!wsOk) diagnoseWebSocket(run, ws, sse, sseOk)
  if (!sseOk) diagnoseSse(run, ws, sse, plain, wsOk)

  await probeIdle(run, ws, sse)
  endSession(run, sse.sid)
  return report(wsOk ? 'websocket' : sseOk && postOk ? 'sse' : null)
}
