/**
 * An SSE response written straight to its socket. Once the response head is out, node:http has
 * nothing left to do for the stream, yet it keeps the request, the response, the HTTP parser and
 * its per-socket listeners alive for as long as the stream is open: about 4 kB per idle SSE
 * connection. {@link takeSocket} lets go of them the way node:http itself lets go of an upgraded
 * socket (listeners removed, parser released), and the stream's body (chunked, as node would
 * write it) then goes to the socket directly. The response was sent with `Connection: close`:
 * a socket taken from node:http is never handed back to it, so the connection ends with the
 * stream.
 *
 * It relies on node:http's listener names (the same in Node 20 to 24). When anything is not as
 * expected (another Node, a pipelined request, HTTP/1.0, a body still arriving), it takes
 * nothing and the stream goes through the response as before.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { StreamPipe } from '../core/sse'

/** node:http's own listeners on a server socket (lib/_http_server.js), by event: what an upgrade removes. */
const SERVER_LISTENERS: readonly (readonly [string, string])[] = [
  ['data', 'bound socketOnData'],
  ['end', 'bound socketOnEnd'],
  ['close', 'bound socketOnClose'],
  ['drain', 'bound socketOnDrain'],
  ['error', 'socketOnError'],
  ['timeout', 'socketOnTimeout'],
  ['resume', 'onSocketResume'],
  ['pause', 'onSocketPause'],
]

/** The parts of node's HTTPParser (internal) this module touches. */
interface NodeParser {
  _consumed?: boolean
  unconsume(): void
  remove?(): void
  close(): void
  [key: string | symbol]: unknown
}

type ServerSocket = Socket & { parser?: NodeParser | null; _httpMessage?: unknown }

/**
 * Take the socket of an SSE response whose head was just flushed (HTTP/1.1, chunked,
 * `Connection: close`) away from node:http; undefined (nothing changed) when that is not safe.
 */
export function takeSocket(req: IncomingMessage, res: ServerResponse): Socket | undefined {
  const socket = req.socket as ServerSocket
  const parser = socket.parser
  const r = res as ServerResponse & { chunkedEncoding?: boolean; _last?: boolean }
  if (!parser || typeof parser.unconsume !== 'function' || typeof parser.close !== 'function') return undefined
  if (req.httpVersion !== '1.1' || !req.complete || socket._httpMessage !== res || !res.headersSent || res.writableEnded) return undefined
  if (r.chunkedEncoding !== true || r._last !== true || typeof res.detachSocket !== 'function') return undefined
  const found: [string, (...args: unknown[]) => void][] = []
  for (const [event, name] of SERVER_LISTENERS) {
    const fns = socket.listeners(event).filter((f) => f.name === name)
    if (fns.length !== 1) return undefined
    found.push([event, fns[0] as (...args: unknown[]) => void])
  }
  for (const [event, fn] of found) socket.removeListener(event, fn)
  res.detachSocket(socket)
  // server.close() (closeIdleConnections) leaves a socket with an unfinished message alone: as it did the response.
  socket._httpMessage = STREAMING
  if (parser._consumed) parser.unconsume() // bytes now come to the socket's own 'data' (and are dropped: an SSE client sends none)
  for (const key of [...Object.keys(parser), ...Object.getOwnPropertySymbols(parser)]) {
    if (key !== 'socket' && (typeof parser[key] === 'object' || typeof parser[key] === 'function')) parser[key] = null
  }
  // The parser stays on the server's list of connections until the socket closes, so
  // server.closeAllConnections() still cuts the stream (the list hands it the parser's socket).
  socket.parser = null
  ;(socket as ServerSocket & { [PARSER]?: NodeParser })[PARSER] = parser
  socket.on('error', ignore)
  socket.on('end', endedByClient)
  socket.on('close', releaseParser)
  return socket
}

/** What a taken socket's `_httpMessage` is: an unfinished message, as far as node:http can tell. One object for all. */
const STREAMING = Object.freeze({ finished: false })

const PARSER = Symbol('surewire.parser')

/** Off the server's list, and freed once the stack that may still hold it has unwound (as node:http does). */
function releaseParser(this: Socket & { [PARSER]?: NodeParser }): void {
  const parser = this[PARSER]
  this[PARSER] = undefined
  if (!parser) return
  parser.remove?.()
  setImmediate(closeParser, parser)
}

const closeParser = (parser: NodeParser) => parser.close()

const ignore = () => {}

/** The client closed its side (http sockets allow half-open): nothing more to write to it. */
function endedByClient(this: Socket): void {
  this.destroy()
}

const END_CHUNK = '0\r\n\r\n'

/**
 * The stream on a socket taken by {@link takeSocket}: each write one HTTP/1.1 chunk. A class, not
 * an object of closures: its methods live on the prototype (memory per connection).
 */
export class SocketPipe implements StreamPipe {
  constructor(private readonly socket: Socket) {}

  write(chunk: string): void {
    if (chunk.length > 0 && this.socket.writable) this.socket.write(`${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`)
  }

  buffered(): number {
    return this.socket.writableLength
  }

  onDrain(cb: () => void): void {
    if (this.socket.writableNeedDrain) this.socket.once('drain', cb)
    else setTimeout(cb, 5)
  }

  end(): void {
    if (this.socket.writable) this.socket.end(END_CHUNK)
  }

  destroy(): void {
    this.socket.destroy()
  }
}
