/** Plain HTTP: the bounded request every HTTP probe uses, and the reachability GET. */
import http from 'node:http'
import https from 'node:https'
import type { Run } from '../types'
import { captureBody, describeServer, now, round } from './util'

export interface HttpResult {
  status?: number
  statusText?: string
  headers: http.IncomingHttpHeaders
  body: string
  ms: number
  error?: string
}

export interface HttpInit {
  method?: string
  headers?: Record<string, string>
  body?: string
}

/** One HTTP request with a bound; the body is read up to 4 KB. Never rejects: failures are in `error`. */
export function request(url: string, init: HttpInit, timeoutMs: number): Promise<HttpResult> {
  const u = new URL(url)
  const mod = u.protocol === 'https:' ? https : http
  const t0 = now()
  return new Promise((resolve) => {
    let settled = false
    const done = (r: Omit<HttpResult, 'ms'>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      resolve({ ...r, ms: round(now() - t0) })
    }
    const req = mod.request(u, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      const acc = { body: '' }
      captureBody(res, acc)
      const finish = () => done({ status: res.statusCode, statusText: res.statusMessage, headers: res.headers, body: acc.body })
      res.on('end', finish)
      res.on('error', finish)
      res.on('close', finish)
    })
    const timer = setTimeout(() => done({ headers: {}, body: '', error: `no response within ${timeoutMs} ms` }), timeoutMs)
    req.on('error', (err) => done({ headers: {}, body: '', error: err.message }))
    req.end(init.body)
  })
}

/** GET the SSE URL without `Accept: text/event-stream`: does anything answer at all, and who (Server header)? */
export async function probePlainHttp(run: Run): Promise<HttpResult> {
  const { ep, path } = run
  const plain = await request(ep.sse.href, { headers: { ...run.common } }, run.timeoutMs)
  run.probes.push(
    plain.status === undefined
      ? { name: 'http', ok: false, ms: plain.ms, detail: `GET ${path}: ${plain.error}` }
      : { name: 'http', ok: plain.status < 500, ms: plain.ms, detail: `GET ${path} → ${plain.status} ${String(plain.headers['content-type'] ?? '')}${describeServer(plain.headers)}`.trim() },
  )
  return plain
}
