/** The page origin (no network): mixed content, and whether CORS will be needed. */
import type { Run } from '../types'

/** Sets `run.crossOrigin`; with `origin: false` there is nothing to check. */
export function checkOrigin(run: Run): void {
  const { ep, path } = run
  if (!run.origin) {
    run.probes.push({ name: 'origin', ok: null, detail: 'no Origin sent: probing as a non-browser client' })
    return
  }
  const httpUrl = ep.sse
  const page = new URL(run.origin)
  run.crossOrigin = page.origin !== httpUrl.origin
  if (page.protocol === 'https:' && (ep.websocket.protocol === 'ws:' || httpUrl.protocol === 'http:')) {
    run.probes.push({ name: 'origin', ok: false, detail: `page ${page.origin} is https but the endpoint is ${ep.websocket.protocol}// / ${httpUrl.protocol}//` })
    run.findings.push({
      cause: 'mixed_content',
      severity: 'error',
      message: `Browsers block ws:// and http:// from an https:// page (mixed content). Use https://${httpUrl.host}${path} (surewire derives wss:// from it), or a relative URL such as "${path}".`,
      fixes: [{ where: 'client', snippet: `new RealtimeClient({ url: '${path}', … })  // resolved against the page: https → wss` }],
    })
  } else {
    run.probes.push({ name: 'origin', ok: true, detail: run.crossOrigin ? `cross-origin: page ${page.origin} → ${httpUrl.origin} (CORS needed)` : `Origin ${page.origin}: same origin as the page` })
  }
}
