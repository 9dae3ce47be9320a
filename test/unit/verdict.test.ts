/** Specification of what a transport's end means (src/client/verdict.ts): decided from C1 data only. */
import { describe, expect, it } from 'vitest'
import type { TransportClose } from '../../src/client/transport'
import { isFatalServerError, judgeClose } from '../../src/client/verdict'

const close = (c: Partial<TransportClose> & Pick<TransportClose, 'cause'>): TransportClose => ({ opened: true, detail: 'text nobody reads', ...c })

describe('judgeClose', () => {
  it('treats an HTTP status on a WebSocket upgrade as a refused upgrade (fallback), never as auth — 401 and 403 included', () => {
    for (const status of [400, 401, 403, 426, 502]) {
      expect(judgeClose('websocket', 'candidate', close({ cause: 'refused', opened: false, status }))).toEqual({ do: 'ws_failed', opened: false })
    }
  })

  it('takes only the protocol’s auth signal as auth: close 4401, code unauthorized, HTTP 401 on SSE or POST', () => {
    expect(judgeClose('websocket', 'active', close({ cause: 'closed', code: 4401 }))).toMatchObject({ do: 'auth' })
    expect(judgeClose('websocket', 'candidate', close({ cause: 'closed', code: 1000, serverCode: 'unauthorized' }))).toMatchObject({ do: 'auth' })
    expect(judgeClose('sse', 'candidate', close({ cause: 'refused', opened: false, status: 401 }))).toMatchObject({ do: 'auth', status: 401 })
    expect(judgeClose('sse', 'active', close({ cause: 'post_refused', status: 401 }))).toMatchObject({ do: 'auth', status: 401 })
    expect(judgeClose('sse', 'active', close({ cause: 'post_refused', status: 403, serverCode: 'unauthorized' }))).toMatchObject({ do: 'auth' })
  })

  it('does not take a 403 without the auth code as an auth failure: SSE GET → sse_refused, POST → a refused post_failed', () => {
    expect(judgeClose('sse', 'candidate', close({ cause: 'refused', opened: false, status: 403 }))).toEqual({ do: 'retry', reason: 'sse_refused', refused: true })
    expect(judgeClose('sse', 'active', close({ cause: 'post_refused', status: 403, serverCode: 'forbidden', serverMessage: 'no' }))).toEqual({ do: 'retry', reason: 'post_failed', refused: true })
  })

  it('stops on origin_not_allowed and on close 4403, with the server’s code and message', () => {
    expect(judgeClose('sse', 'active', close({ cause: 'post_refused', status: 403, serverCode: 'origin_not_allowed' as never, serverMessage: 'Origin x does not match Host y' }))).toEqual({
      do: 'stop',
      serverCode: 'origin_not_allowed',
      message: 'Origin x does not match Host y',
      status: 403,
    })
    expect(judgeClose('websocket', 'active', close({ cause: 'closed', code: 4403 }))).toMatchObject({ do: 'stop' })
  })

  it('names losses of an open connection by cause, none of them a failed attempt except a refusal', () => {
    const reason = (kind: 'websocket' | 'sse', c: Partial<TransportClose> & Pick<TransportClose, 'cause'>) => judgeClose(kind, 'active', close(c))
    expect(reason('sse', { cause: 'post_failed' })).toEqual({ do: 'retry', reason: 'post_failed', refused: false })
    expect(reason('sse', { cause: 'post_timeout' })).toEqual({ do: 'retry', reason: 'post_timeout', refused: false })
    expect(reason('sse', { cause: 'protocol' })).toEqual({ do: 'retry', reason: 'protocol_error', refused: false })
    expect(reason('sse', { cause: 'closed' })).toEqual({ do: 'retry', reason: 'server_closed', refused: false })
    expect(reason('sse', { cause: 'network' })).toEqual({ do: 'retry', reason: 'connection_lost', refused: false })
    for (const code of [1000, 1001, 4409]) expect(reason('websocket', { cause: 'closed', code })).toMatchObject({ reason: 'server_closed' })
    for (const code of [1011, 4400, 4408, 4999]) expect(reason('websocket', { cause: 'closed', code })).toMatchObject({ reason: 'connection_lost' })
    expect(reason('websocket', { cause: 'network', code: 1006 })).toMatchObject({ reason: 'connection_lost' })
  })

  it('sends a WebSocket candidate that failed before hello to the fallback, saying whether it had opened', () => {
    expect(judgeClose('websocket', 'candidate', close({ cause: 'network', opened: false, code: 1006 }))).toEqual({ do: 'ws_failed', opened: false })
    expect(judgeClose('websocket', 'candidate', close({ cause: 'closed', opened: true, code: 1000 }))).toEqual({ do: 'ws_failed', opened: true })
  })

  it('names an SSE candidate’s failure sse_refused when the server answered, connect_failed when it did not', () => {
    expect(judgeClose('sse', 'candidate', close({ cause: 'refused', opened: false, status: 502 }))).toMatchObject({ reason: 'sse_refused' })
    expect(judgeClose('sse', 'candidate', close({ cause: 'network', opened: false }))).toMatchObject({ reason: 'connect_failed' })
    expect(judgeClose('sse', 'candidate', close({ cause: 'closed' }))).toMatchObject({ reason: 'connect_failed' })
  })

  it('never reads detail: the same fields with any text give the same verdict', () => {
    const a = judgeClose('sse', 'active', { opened: true, cause: 'closed', detail: 'POST answered 500' })
    const b = judgeClose('sse', 'active', { opened: true, cause: 'closed', detail: 'SSE stream ended' })
    expect(a).toEqual(b)
  })
})

describe('isFatalServerError', () => {
  it('is fatal with fatal: true or a code that means it; unauthorized never (it gets a refresh first)', () => {
    expect(isFatalServerError('server_error', true)).toBe(true)
    expect(isFatalServerError('origin_not_allowed', undefined)).toBe(true)
    expect(isFatalServerError('rate_limited', false)).toBe(false)
    expect(isFatalServerError('unauthorized', true)).toBe(false)
  })
})
