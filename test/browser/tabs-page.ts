/** The page every tab of test/browser/tabs.test.ts loads (bundled by esbuild): one client, recorded. */
import { RealtimeClient } from '../../src'
import { ClientMessage, ServerMessage } from '../support/schemas'

/** When this page last opened a realtime transport itself (the leader tab does; followers never do). */
let openedAt = 0
const NativeWS = globalThis.WebSocket
globalThis.WebSocket = class extends NativeWS {
  constructor(url: string | URL, protocols?: string | string[]) {
    super(url, protocols)
    if (String(url).includes('/realtime')) openedAt = performance.timeOrigin + performance.now()
  }
} as typeof WebSocket
const nativeFetch = globalThis.fetch
globalThis.fetch = (input, init) => {
  const url = String(input instanceof Request ? input.url : input)
  if (url.includes('/realtime') && (init?.method ?? 'GET') === 'GET') openedAt = performance.timeOrigin + performance.now()
  return nativeFetch(input, init)
}

type Opts = { shareTabs?: boolean; transports?: ('websocket' | 'sse')[]; topics?: string[] }
const rec = {
  /** [n, Date.now()] of every tick received. */
  ticks: [] as [number, number][],
  echoes: [] as string[],
  statuses: [] as string[],
  errors: [] as { code?: string; message: string }[],
  sent: 0,
  failed: [] as string[],
  openedAt: () => openedAt,
  client: undefined as RealtimeClient<typeof ServerMessage, typeof ClientMessage> | undefined,
  start(o: Opts = {}) {
    const c = (rec.client = new RealtimeClient({
      url: '/realtime',
      incoming: ServerMessage,
      outgoing: ClientMessage,
      backoff: () => 50,
      storage: null,
      ...(o.shareTabs === false ? { shareTabs: false } : {}),
      ...(o.transports ? { transports: o.transports } : {}),
    }))
    c.on('message', (m) => {
      if (m.type === 'tick') rec.ticks.push([m.n, Date.now()])
      else if (m.type === 'echo') rec.echoes.push(m.text)
    })
    c.on('status', (s) => rec.statuses.push(`${s.status}:${s.transport}:${s.reason}`))
    c.on('error', (e) => rec.errors.push({ code: (e as { code?: string }).code, message: e.message }))
    for (const t of o.topics ?? []) void c.subscribe(t)
    return c.connect().then(() => c.transport)
  },
  /** Send `count` echoes named `${prefix}-${i}`, `gapMs` apart; resolves when every send settled. */
  async sendMany(prefix: string, count: number, gapMs = 0) {
    const all: Promise<void>[] = []
    for (let i = 0; i < count; i++) {
      const text = `${prefix}-${i}`
      all.push(rec.client!.send({ type: 'echo', text }).then(() => void rec.sent++, (e: Error) => void rec.failed.push(`${text}: ${e.message}`)))
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs))
    }
    await Promise.all(all)
    return { sent: rec.sent, failed: rec.failed }
  },
  async fetchOk(): Promise<string> {
    const ac = new AbortController()
    const t = setTimeout(() => ac.abort(), 5_000)
    try {
      return await (await fetch('/ping', { signal: ac.signal })).text()
    } finally {
      clearTimeout(t)
    }
  },
}
;(globalThis as unknown as { tab: typeof rec }).tab = rec
