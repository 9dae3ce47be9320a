/**
 * createFetchHandler (surewire/server/fetch) on the Redis broker: two handler instances, each
 * its own RealtimeServer sharing nothing but a real redis-server, serve ONE session: its SSE
 * stream on one, its POSTs on the other (the shape of Next.js route handlers on several
 * instances). Then a RealtimeClient on SSE + POST through nginx's round-robin upstream of the two.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createFetchHandler, createRealtimeServer } from '../../src/server/web'
import { createRedisBroker } from '../../src/redis'
import { serveFetch } from '../support/fetch-node'
import { ClientMessage, ServerMessage } from '../support/schemas'
import { until } from '../support/servers'
import { useRedis } from '../support/redis-server'
import { startNginxUpstream } from './nginx-upstream'
import { trackedClient, type Tracked } from './cluster'

const fixture = useRedis()
const clients: Tracked[] = []
afterEach(() => {
  for (const t of clients.splice(0)) t.c.close()
})

let prefixes = 0
/** Two Fetch-handler instances on one Redis prefix, each with an echo handler, served on their own ports. */
async function twoHandlers() {
  const keyPrefix = `f${process.pid}-${++prefixes}:`
  return Promise.all(
    ['a', 'b'].map(async (name) => {
      const broker = await createRedisBroker({ url: fixture.redis.url, keyPrefix, blockMs: 1_000 })
      const realtime = createRealtimeServer({ incoming: ClientMessage, outgoing: ServerMessage, broker })
      const errors: unknown[] = []
      realtime.on('error', (e) => errors.push(e))
      realtime.on('connection', (conn) => conn.on('message', (m) => m.type === 'echo' && void conn.send({ type: 'echo', text: `${m.text} from ${name}` })))
      const srv = await serveFetch(createFetchHandler(realtime))
      fixture.cleanup(() => srv.close())
      fixture.cleanup(() => realtime.close())
      return { name, realtime, srv, errors }
    }),
  )
}

/** Read SSE `data:` frames from a streamed response as they come. */
function sseFrames(res: Response) {
  const frames: { t: string; [k: string]: unknown }[] = []
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let buf = ''
  const done = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }))
      if (done) return
      buf += decoder.decode(value, { stream: true })
      let i
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const event = buf.slice(0, i)
        buf = buf.slice(i + 2)
        for (const line of event.split('\n')) if (line.startsWith('data: ')) frames.push(JSON.parse(line.slice(6)))
      }
    }
  })()
  return { frames, cancel: () => reader.cancel().then(() => done) }
}

describe('createFetchHandler on the Redis broker', () => {
  it('two handler instances share one session: the SSE stream on A, a POST on B is acked, its echo arrives on A', async () => {
    const [a, b] = await twoHandlers()
    const res = await fetch(`${a!.srv.url}?v=1`, { headers: { accept: 'text/event-stream' } })
    expect(res.status).toBe(200)
    const stream = sseFrames(res)
    fixture.cleanup(() => stream.cancel())
    await until(() => stream.frames.some((f) => f.t === 'hello'), 15_000, 'hello')
    const sid = stream.frames.find((f) => f.t === 'hello')!.sid as string
    const post = await fetch(`${b!.srv.url}?v=1&sid=${encodeURIComponent(sid)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ t: 'msg', seq: 1, d: { type: 'echo', text: 'hi' } }]),
    })
    const replies = await post.json()
    expect({ status: post.status, replies }).toEqual({ status: 200, replies: [{ t: 'ack', seq: 1 }] })
    // The handler runs on the session's home (A, where it was created), whichever instance got the POST.
    await until(() => stream.frames.some((f) => f.t === 'msg'), 15_000, 'the echo on the stream')
    expect(stream.frames.filter((f) => f.t === 'msg').map((f) => f.d)).toEqual([{ type: 'echo', text: 'hi from a' }])
    expect([...a!.errors, ...b!.errors]).toEqual([])
  })

  it('a RealtimeClient on SSE + POST through round-robin over the two: every send acked and echoed', async () => {
    const [a, b] = await twoHandlers()
    const nginx = await startNginxUpstream([a!.srv.port, b!.srv.port])
    fixture.cleanup(() => nginx.stop())
    const t = trackedClient(nginx.url('/realtime'), 'sse')
    clients.push(t)
    const echoes: string[] = []
    t.c.onMessage('echo', (m) => echoes.push(m.text))
    await t.c.connect()
    const N = 20
    let acked = 0
    for (let i = 0; i < N; i++) {
      const ok = await Promise.race([t.c.send({ type: 'echo', text: String(i) }).then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))])
      if (!ok) break
      acked++
    }
    expect(acked, `sends acked (of ${N})`).toBe(N)
    await until(() => echoes.length >= N, 15_000, 'every echo')
    expect(echoes.map((e) => e.split(' ')[0])).toEqual(Array.from({ length: N }, (_, i) => String(i)))
    expect(t.resets).toEqual([])
  })
})
