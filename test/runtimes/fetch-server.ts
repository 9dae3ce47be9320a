/**
 * The reference server's Fetch handler served by the runtime's own HTTP server: `Bun.serve`
 * under Bun, `Deno.serve` under Deno (run by test/fetch-runtimes.test.ts, never by vitest).
 * Prints one JSON line `{"port":N,"runtime":"bun"|"deno"}` once listening; each stdin line is a
 * JSON server message to broadcast. Echoes every `echo` message back to its sender.
 */
import { createFetchHandler, createRealtimeServer } from '../../src/server/web'
import { ClientMessage, ServerMessage } from '../support/schemas'

declare const Bun: { serve(o: { port: number; hostname: string; idleTimeout: number; fetch: (r: Request) => Promise<Response> | Response }): { port: number } } | undefined
declare const Deno:
  | {
      serve(o: { port: number; hostname: string; onListen(a: { port: number }): void }, h: (r: Request) => Promise<Response> | Response): unknown
      stdin: { readable: ReadableStream<Uint8Array> }
    }
  | undefined

const realtime = createRealtimeServer({ incoming: ClientMessage, outgoing: ServerMessage })
realtime.on('connection', (conn) => conn.on('message', (m) => m.type === 'echo' && conn.send({ type: 'echo', text: m.text })))
const handler = createFetchHandler(realtime)

const ready = (port: number, runtime: string) => console.log(JSON.stringify({ port, runtime }))
let stdin: ReadableStream<Uint8Array>
if (typeof Bun !== 'undefined') {
  // idleTimeout 0: Bun.serve closes a connection idle for 10 s by default, which would cut an
  // SSE stream between heartbeats (15 s).
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', idleTimeout: 0, fetch: handler })
  ready(server.port, 'bun')
  stdin = (globalThis as unknown as { Bun: { stdin: { stream(): ReadableStream<Uint8Array> } } }).Bun.stdin.stream()
} else if (typeof Deno !== 'undefined') {
  Deno.serve({ port: 0, hostname: '127.0.0.1', onListen: ({ port }) => ready(port, 'deno') }, handler)
  stdin = Deno.stdin.readable
} else {
  throw new Error('fetch-server.ts runs under Bun or Deno')
}

// stdin: one JSON message per line to broadcast; EOF stops the server.
const decoder = new TextDecoder()
let buffered = ''
for await (const chunk of stdin as unknown as AsyncIterable<Uint8Array>) {
  buffered += decoder.decode(chunk, { stream: true })
  let nl: number
  while ((nl = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, nl).trim()
    buffered = buffered.slice(nl + 1)
    if (line) void realtime.broadcast(ServerMessage.parse(JSON.parse(line)))
  }
}
await realtime.close()
globalThis.process?.exit(0)
