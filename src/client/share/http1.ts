import { SurewireError } from '../../errors'

type Entry = { name: string; nextHopProtocol?: string }
type ObserverConstructor = new (cb: (list: { getEntries(): Entry[] }) => void) => { observe(o: { type: string; buffered: true }): void; disconnect(): void }

/** Once per page: the warning is about the page, not about one client. */
let warned = false
/** Origins already watched (one observer each per page, however many clients open SSE to it). */
const watched = new Set<string>()

/**
 * A page whose client does not share its connection (sharing off or unavailable) and streams SSE
 * over HTTP/1.1: say once, as an `error` with code `connection_limit`, that more than about five
 * such tabs exhaust the browser's 6 connections per host. The protocol comes from Resource Timing
 * (`nextHopProtocol` of a finished request to the same origin: a POST, or the page itself; the
 * stream never finishes, so it has no entry of its own). Nothing happens outside browsers.
 */
export function warnHttp1(sseUrl: string, emit: (e: Error) => void): void {
  const g = globalThis as { document?: unknown; PerformanceObserver?: ObserverConstructor }
  if (warned || !g.document || !g.PerformanceObserver) return
  const origin = new URL(sseUrl).origin
  if (watched.has(origin)) return
  watched.add(origin)
  // `buffered`: the entries so far come first (the page's own navigation is usually the answer).
  const obs = new g.PerformanceObserver((list) => {
    for (const { name, nextHopProtocol: v } of list.getEntries()) {
      if (!v || !name.startsWith(origin)) continue
      obs.disconnect()
      if (v === 'http/1.1' && !warned) {
        warned = true
        emit(
          new SurewireError(
            'connection_limit',
            `SSE over HTTP/1.1 to ${origin} without shareTabs: browsers allow 6 connections per host` +
              ((typeof process === 'object' && process.env.NODE_ENV !== 'production')
                ? ', so more than about five tabs open at once exhaust them (sends and the page\'s own requests hang). ' +
                  'Serve the endpoint over HTTP/2 (https), or keep `shareTabs` on where the browser supports it.'
                : ''),
          ),
        )
      }
      return
    }
  })
  obs.observe({ type: 'navigation', buffered: true })
  obs.observe({ type: 'resource', buffered: true })
}
