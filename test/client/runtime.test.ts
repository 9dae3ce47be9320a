/**
 * The client suite runs on several runtimes (scripts/runtimes.mjs): this pins that a run really
 * is on the runtime and WebSocket it claims, so a runner that silently fell back to the host
 * Node would fail here instead of reporting a pass for the wrong runtime.
 */
import { describe, expect, it } from 'vitest'
import { WebSocket as WsLibrary } from 'ws'
import { TestWebSocket } from '../support/servers'

const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } }; WebSocket?: unknown }
const actual = g.Deno ? 'deno' : g.Bun ? 'bun' : `node${process.versions.node.split('.')[0]}`
const expected = process.env.SUREWIRE_RUNTIME ?? 'node20'

describe(`runtime: ${actual}`, () => {
  it('is the runtime the runner asked for', () => {
    expect(actual).toBe(expected)
  })

  it('uses the runtime’s own WebSocket when it has one, else the `ws` package', () => {
    if (expected === 'node20') {
      expect(g.WebSocket).toBeUndefined()
      expect(TestWebSocket).toBe(WsLibrary)
    } else {
      expect(typeof g.WebSocket).toBe('function')
      expect(TestWebSocket).toBe(g.WebSocket)
    }
  })
})
