/**
 * `npm run demo`: the chat room with two clients behind two proxies.
 *
 *   A ── proxy 1 (passes WebSocket upgrades) ───┐
 *                                                ├── chat server
 *   B ── proxy 2 (refuses them with HTTP 400) ──┘
 *
 * A gets WebSocket, B falls back to SSE + POST, they chat; then proxy 2 starts
 * passing upgrades and B's background probe moves it back to WebSocket.
 * Everything runs in this process on 127.0.0.1 and shuts down by itself.
 */
import { startProxy, type TestProxy } from '../../test/support/proxy'
import type { StatusEvent } from '../../src/index'
import { createChatClient, describeStatus, type ChatClient } from './client'
import type { ChatServerMessage } from './messages'
import { startChatServer, type ChatServer } from './server'

// ---------------------------------------------------------------- output

const tty = process.stdout.isTTY === true && !process.env.NO_COLOR
const paint = (code: string) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s)
const dim = paint('2')
const bold = paint('1')
const green = paint('32')
const yellow = paint('33')
const cyan = paint('36')
const red = paint('31')

const t0 = performance.now()
const clock = () => dim(`${((performance.now() - t0) / 1000).toFixed(2).padStart(5)}s`)
const say = (who: string, text: string) => console.log(`  ${clock()}  ${bold(who.padEnd(7))}  ${text}`)
const step = (text: string) => console.log(`\n${cyan(text)}`)
const statusColour = (e: StatusEvent) => (e.status === 'open' ? green : e.status === 'closed' ? dim : yellow)

// ---------------------------------------------------------------- helpers

/** Display names for session ids, learned from each client's welcome. */
const names = new Map<string, string>()

/** Resolve on the first event that matches; fail loudly (not hang) after `ms`. */
function next<T>(subscribe: (fn: (v: T) => void) => () => void, match: (v: T) => boolean, what: string, ms = 8_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`))
    }, ms)
    const off = subscribe((v) => {
      if (!match(v)) return
      clearTimeout(timer)
      off()
      resolve(v)
    })
  })
}

const nextStatus = (c: ChatClient, match: (e: StatusEvent) => boolean, what: string) => next((fn) => c.on('status', fn), match, what)
const nextSaid = (c: ChatClient, text: string, who: string) =>
  next<ChatServerMessage>((fn) => c.on('message', fn), (m) => m.type === 'said' && m.text === text, `${who} to hear "${text}"`)

/** A chat client that narrates its status and the room. */
function join(name: string, url: string): ChatClient {
  // Everything else is left at its default; the probe interval is cut from 30 s so the demo does not wait.
  const client = createChatClient(url, { wsProbeIntervalMs: 1_000 })
  client.on('status', (e) => say(name, statusColour(e)(describeStatus(e))))
  client.on('error', (err) => say(name, red(`error: ${err.message}`)))
  client.onMessage('welcome', (m) => {
    names.set(m.id, name)
    say(name, `welcome: my id is ${m.id}`)
  })
  client.onMessage('said', (m) => {
    const from = names.get(m.from) ?? m.from
    if (from !== name) say(name, `heard ${from}: "${m.text}" ${dim(`(over ${client.transport})`)}`)
  })
  return client
}

/** `from` says `text`; wait until `to` heard it (and `from` got its ack). */
async function chat(from: [string, ChatClient], to: [string, ChatClient], text: string): Promise<void> {
  const [fromName, fromClient] = from
  const [toName, toClient] = to
  const heard = nextSaid(toClient, text, toName)
  say(fromName, `says "${text}" ${dim(`(over ${fromClient.transport})`)}`)
  await fromClient.send({ type: 'say', text })
  await heard
}

// ---------------------------------------------------------------- the demo

async function demo(opened: { server?: ChatServer; proxies: TestProxy[]; clients: ChatClient[] }): Promise<void> {
  console.log(bold('surewire node-chat demo') + dim('  (one chat room, two clients, two proxies)'))
  const server = (opened.server = await startChatServer())
  const p1 = await startProxy({ targetPort: server.port, mode: 'pass' })
  const p2 = await startProxy({ targetPort: server.port, mode: 'refuse', refuseStatus: 400 })
  opened.proxies.push(p1, p2)
  const path = new URL(server.url).pathname
  console.log(`\n  server   ${server.url}`)
  console.log(`  proxy 1  ${p1.url(path)}  ${green('pass')}    forwards WebSocket upgrades`)
  console.log(`  proxy 2  ${p2.url(path)}  ${red('refuse')}  answers upgrades with HTTP 400, like a proxy that drops Upgrade headers`)

  step('1. A connects through proxy 1')
  const a = join('A', p1.url(path))
  opened.clients.push(a)
  const aWelcome = next<ChatServerMessage>((fn) => a.on('message', fn), (m) => m.type === 'welcome', 'A welcome')
  await a.connect()
  await aWelcome

  step('2. B connects through proxy 2: WebSocket is refused, B falls back to SSE + POST')
  const b = join('B', p2.url(path))
  opened.clients.push(b)
  const bWelcome = next<ChatServerMessage>((fn) => b.on('message', fn), (m) => m.type === 'welcome', 'B welcome')
  await b.connect()
  await bWelcome

  step('3. A and B chat across transports')
  await chat(['A', a], ['B', b], 'hi B, I am on WebSocket')
  await chat(['B', b], ['A', a], 'hi A, I am on SSE + POST')

  step('4. proxy 2 starts passing upgrades; B probes WebSocket every second')
  const restored = nextStatus(b, (e) => e.reason === 'ws_restored', 'B to move back to WebSocket')
  p2.mode = 'pass'
  say('proxy 2', `mode is now ${green('pass')}`)
  await restored

  step('5. Same session, same room, now both on WebSocket')
  await chat(['B', b], ['A', a], 'back on WebSocket, nothing lost')
  await chat(['A', a], ['B', b], 'welcome back')

  step('6. Close everything')
  const aClosed = nextStatus(a, (e) => e.status === 'closed', 'A closed')
  const bClosed = nextStatus(b, (e) => e.status === 'closed', 'B closed')
  a.close()
  b.close()
  await Promise.all([aClosed, bClosed])
  const refused = p2.stats.refused
  say('proxy 2', dim(`refused ${refused} WebSocket upgrade${refused === 1 ? '' : 's'} while in refuse mode`))
}

// A watchdog that only fires if something keeps the process alive (unref'd: it never holds it open itself).
setTimeout(() => {
  console.error(red('demo: still running after 15 s; something was left open'))
  process.exit(1)
}, 15_000).unref()

const opened: { server?: ChatServer; proxies: TestProxy[]; clients: ChatClient[] } = { proxies: [], clients: [] }
try {
  await demo(opened)
  console.log(`\n${green('done')} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
} catch (err) {
  console.error(`\n${red('demo failed:')} ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 1
} finally {
  for (const c of opened.clients) c.close()
  await Promise.all(opened.proxies.map((p) => p.close()))
  await opened.server?.close()
}
