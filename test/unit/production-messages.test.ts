/**
 * Under NODE_ENV=production (what an app's bundler defines for a production build) the client's
 * long developer hints (examples, proxy advice) are left out of error texts; the errors keep their
 * class, their code and a message that still names what is wrong. The check runs where the error is
 * made, so setting NODE_ENV here switches it, as a bundler's define does at build time.
 */
import { build } from 'esbuild'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { BROWSER_APP_BUILD } from '../../bench/suite/bundle'
import { ConfigError, RealtimeClient } from '../../src'

const base = { incoming: z.any(), outgoing: z.any(), storage: null, lifecycle: null, shareTabs: false } as const

function configError(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError)
    return e as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe.each(['production', 'development'])('error texts with NODE_ENV=%s', (env) => {
  let saved: string | undefined
  beforeEach(() => {
    saved = process.env.NODE_ENV
    process.env.NODE_ENV = env
  })
  afterEach(() => {
    process.env.NODE_ENV = saved
  })
  const prod = env === 'production'

  it('options: the option named, the example only in development', () => {
    const noUrl = configError(() => new RealtimeClient({ ...base, url: '' } as never))
    expect(noUrl.code).toBe('bad_config')
    expect(noUrl.message).toMatch(/^`url` is required/)
    expect(noUrl.message.includes('e.g.')).toBe(!prod)
    const token = configError(() => new RealtimeClient({ ...base, url: 'http://127.0.0.1:1/rt', token: 'x' } as never))
    expect(token.message).toMatch(/^`token` must be a function/)
    expect(token.message.includes('getAccessToken')).toBe(!prod)
    const schema = configError(() => new RealtimeClient({ ...base, url: 'http://127.0.0.1:1/rt', incoming: {} } as never))
    expect(schema.message).toMatch(/^`incoming` must be a Standard Schema/)
    expect(schema.message.includes('z.object')).toBe(!prod)
    const transports = configError(() => new RealtimeClient({ ...base, url: 'http://127.0.0.1:1/rt', transports: ['x'] } as never))
    expect(transports.message).toMatch(/^`transports` lists 'websocket' and\/or 'sse'.*; got \["x"\]$/)
    const range = configError(() => new RealtimeClient({ ...base, url: 'http://127.0.0.1:1/rt', connectTimeoutMs: 0 }))
    expect(range.message).toMatch(/^`connectTimeoutMs` must be a number of milliseconds in \[1, Infinity\].*; got 0$/)
    expect(range.message.includes('clamped')).toBe(!prod)
    const relative = configError(() => new RealtimeClient({ ...base, url: '/realtime' }))
    expect(relative.message).toMatch(/is not an absolute URL/)
    expect(relative.message.includes('127.0.0.1')).toBe(!prod)
  })

  it('no WebSocket and no SSE allowed: websocket_unavailable, the fix only in development', async () => {
    const saveWs = (globalThis as { WebSocket?: unknown }).WebSocket
    delete (globalThis as { WebSocket?: unknown }).WebSocket
    try {
      const c = new RealtimeClient({ ...base, url: 'http://127.0.0.1:1/rt', transports: ['websocket'] })
      const err = await c.connect().then(
        () => undefined,
        (e: unknown) => e as ConfigError,
      )
      expect(err).toBeInstanceOf(ConfigError)
      expect(err?.code).toBe('websocket_unavailable')
      expect(err?.message).toMatch(/^no usable transport: no WebSocket, and `transports` excludes 'sse'/)
      expect(err?.message.includes('"ws" package')).toBe(!prod)
    } finally {
      if (saveWs !== undefined) (globalThis as { WebSocket?: unknown }).WebSocket = saveWs
    }
  })
})

describe('an app\'s production bundle of { RealtimeClient }', () => {
  const HINTS = ['e.g. new RealtimeClient', 'proxy_buffering off', 'maxMessageBytes / server maxFrameBytes']
  const bundle = async (nodeEnv: string) => {
    const stdin = { contents: `export { RealtimeClient } from './src/index.ts'`, resolveDir: process.cwd(), loader: 'ts' as const }
    const text = (await build({ ...BROWSER_APP_BUILD, define: { 'process.env.NODE_ENV': JSON.stringify(nodeEnv) }, stdin })).outputFiles[0]!.text
    // What is left of the hint conditions, and which hints are in: short enough for a failure message.
    return { guards: text.match(/.{0,20}\bprocess\b.{0,20}/g) ?? [], hints: HINTS.filter((h) => text.includes(h)) }
  }

  it('folds every hint condition away: no `process` left, no hint text', async () => {
    expect(await bundle('production')).toEqual({ guards: [], hints: [] })
    // A development build keeps both (so the assertion above can see them).
    const dev = await bundle('development')
    expect(dev.guards.length).toBeGreaterThanOrEqual(10)
    expect(dev.hints).toEqual(HINTS)
  })
})
