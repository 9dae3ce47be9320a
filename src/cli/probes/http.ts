/** Plain HTTP: the bounded request every HTTP probe uses, and the reachability GET. */
import type http from 'node:http'
import type { Run } from '../types'
import type { Dialer } from './dial'
import { captureBody, describeServer, now, protocolError, round, type ServerError } from './util'

export interface HttpResult {
  status?: number
  statusText?: string
  headers: http.IncomingHttpHeaders
  rawHeaders?: string[]
  body: string
  /** The protocol error the body carried, if it was one (C2: codes, never prose). */
  serverError?: ServerError
  ms: number
  error?: string
}

export interface HttpInit {
  method?: string
  headers?: Record<string, string>
  body?: string
}

/** One HTTP request with a bound; the body is read up to 4 KB. Never rejects: failures are in `error`. */
export async function request(dial: Dialer, url: string, init: HttpInit, timeoutMs: number): Promise<HttpResult> {
  const u = new URL(url)
  const t0 = now()
  let dialed
  try {
    dialed = await dial.http(u, init.headers ?? {})
  } catch (err) {
    return { headers: {}, body: '', error: (err as Error).message, ms: round(now() - t0) }
  }
  return new Promise((resolve) => {
    let settled = false
    const done = (r: Omit<HttpResult, 'ms'>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      resolve({ ...r, ms: round(now() - t0) })
    }
    const req = dialed.mod.request({ ...dialed.options, method: init.method ?? 'GET' }, (res) => {
      const acc = { body: '' }
      captureBody(res, acc)
      const finish = () => done({ status: res.statusCode, statusText: res.statusMessage, headers: res.headers, rawHeaders: res.rawHeaders, body: acc.body, serverError: protocolError(acc.body) })
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
  const plain = await request(run.dial, ep.sse.href, { headers: { ...run.headers.sse } }, run.timeoutMs)
  if (plain.status !== undefined) run.seen.push(plain)
  run.probes.push(
    plain.status === undefined
      ? { name: 'http', ok: false, ms: plain.ms, detail: `GET ${path}: ${plain.error}` }
      : { name: 'http', ok: plain.status < 500, ms: plain.ms, detail: `GET ${path} → ${plain.status} ${String(plain.headers['content-type'] ?? '')}${describeServer(plain.headers)}`.trim() },
  )
  return plain
}
