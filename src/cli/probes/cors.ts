/** CORS: the preflight browsers send before a cross-origin POST, and a WebSocket refused on Origin. */
import { corsFixes } from '../fixes'
import type { Run } from '../types'
import { request } from './http'

/** `wsStatus`: the WebSocket handshake's status (403 there means the origin was refused too). */
export async function probeCors(run: Run, wsStatus: number | undefined): Promise<void> {
  const { ep } = run
  const origin = run.origin
  if (!origin || !run.crossOrigin) {
    run.probes.push({ name: 'cors', ok: null, detail: origin ? 'same origin: no CORS needed' : 'skipped: no Origin sent (--no-origin)' })
    return
  }
  const pre = await request(run.dial, ep.post.href, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type, last-event-id' } }, run.timeoutMs)
  const acao = String(pre.headers['access-control-allow-origin'] ?? '')
  const allowHeaders = String(pre.headers['access-control-allow-headers'] ?? '').toLowerCase()
  const ok = pre.status !== undefined && pre.status < 300 && (acao === origin || acao === '*') && (allowHeaders.includes('content-type') || allowHeaders === '*')
  run.probes.push({ name: 'cors', ok, ms: pre.ms, detail: `OPTIONS ${ep.post.pathname} from ${origin} → ${pre.status ?? pre.error}, Allow-Origin: ${acao || '(none)'}, Allow-Headers: ${allowHeaders || '(none)'}` })
  if (!ok || wsStatus === 403) {
    run.findings.push({
      cause: 'cors_missing',
      severity: 'error',
      message: `The server does not allow the page origin ${origin}: browsers will block ${!ok ? 'SSE and POST (CORS preflight failed)' : ''}${!ok && wsStatus === 403 ? ' and ' : ''}${wsStatus === 403 ? 'the WebSocket (403 on Origin)' : ''}.`,
      fixes: corsFixes(origin),
    })
  }
}
