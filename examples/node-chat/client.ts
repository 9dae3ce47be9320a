/**
 * A chat client for Node. Node 20 has no global WebSocket, so we pass the one
 * from `ws`; without it the client would still work, over SSE + POST.
 *
 * Run it against a running server (see server.ts):
 *
 *   npx tsx examples/node-chat/client.ts [url] [line …]
 *
 * It says the given lines (or a few greetings), prints the room, and keeps
 * chatting with what you type when stdin is a terminal (Ctrl-C or Ctrl-D quits).
 */
import { hostname } from 'node:os'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { WebSocket } from 'ws'
import { RealtimeClient, type ClientOptions, type StatusEvent } from '../../src/index'
import { ChatClientMessage, ChatServerMessage } from './messages'

export type ChatClient = RealtimeClient<typeof ChatServerMessage, typeof ChatClientMessage>
export type ChatClientOptions = Partial<ClientOptions<typeof ChatServerMessage, typeof ChatClientMessage>>

/** A client for the chat room at `url`, with WebSocket from `ws`. Call `connect()` to start. */
export function createChatClient(url: string, options: ChatClientOptions = {}): ChatClient {
  return new RealtimeClient({ url, incoming: ChatServerMessage, outgoing: ChatClientMessage, WebSocket, ...options })
}

/** One status event as a short line: `open via sse (ws_refused)`, `reconnecting in 420 ms (connection_lost: …)`. */
export function describeStatus(e: StatusEvent): string {
  const detail = e.detail ? `: ${e.detail}` : ''
  if (e.status === 'open') return `open via ${e.transport} (${e.reason})`
  if (e.status === 'reconnecting') return `reconnecting in ${e.delayMs} ms (${e.reason}${detail})`
  return `${e.status} (${e.reason}${detail})`
}

// ---------------------------------------------------------------- standalone

async function main(): Promise<void> {
  const [urlArg, ...lines] = process.argv.slice(2)
  const url = urlArg ?? process.env.URL ?? `http://127.0.0.1:${process.env.PORT ?? 3000}/realtime`
  if (lines.length === 0) lines.push(`hello from ${hostname()}`, 'is anyone here?', 'bye for now')
  const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 23)}  ${line}`)

  const client = createChatClient(url)
  let me = ''
  let ownSeen = 0
  let onOwn = () => {}
  client.on('status', (e) => log(describeStatus(e)))
  client.on('error', (err) => log(`error: ${err.message}`))
  client.onMessage('welcome', (m) => {
    me = m.id
    log(`welcome, you are ${m.id}`)
  })
  client.onMessage('said', (m) => {
    log(`${m.from === me ? 'you' : m.from}: ${m.text}`)
    if (m.from === me) {
      ownSeen++
      onOwn()
    }
  })

  log(`connecting to ${url}`)
  await client.connect()
  for (const text of lines) await client.send({ type: 'say', text })

  if (process.stdin.isTTY) {
    const rl = createInterface({ input: process.stdin })
    rl.on('line', (text) => {
      if (text.trim()) client.send({ type: 'say', text }).catch((err: Error) => log(`not sent: ${err.message}`))
    })
    rl.on('SIGINT', () => rl.close())
    rl.on('close', () => client.close())
    return
  }
  // Not interactive: leave once the room has echoed our own lines back.
  await new Promise<void>((resolve) => {
    onOwn = () => ownSeen >= lines.length && resolve()
    onOwn()
  })
  client.close()
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (isMain) await main()
