#!/usr/bin/env node
/**
 * The `surewire` command. One subcommand for now:
 *
 *   surewire doctor <url> [--origin <page origin> | --no-origin] [--token <t>] [--json] [--timeout <ms>]
 *                         [--idle <ms>] [--proxy <url> | --no-proxy] [--cacert <file>]
 *                         [--ws-path <p>] [--sse-path <p>] [--post-path <p>] [--no-color]
 *
 * Exit code: 0 when clients get a working transport, 1 when not, 2 on a usage error.
 */
import { readFileSync } from 'node:fs'
import { runDoctor, type DoctorOptions } from './doctor'
import { colours, formatReport, plain } from './format'

const USAGE = `usage: surewire doctor <url> [options]

Probes a surewire endpoint the way clients use it (DNS, TCP, TLS, HTTP, WebSocket
handshake + hello + ping, SSE stream, POST, CORS) and says which transport clients
will get, and for every failure the most likely cause and its fix.

  <url>               the URL clients use, e.g. https://example.com/realtime
  --origin <origin>   the page origin browsers connect from (default: the URL's own origin).
                      Sent as browsers send it, so a proxy that rewrites Host is caught;
                      a different origin also checks CORS and ws:// vs https
  --no-origin         send no Origin (probe as a non-browser client)
  --proxy <url>       probe through this forward proxy (http://host:port); default: HTTPS_PROXY /
                      HTTP_PROXY, honouring NO_PROXY
  --no-proxy          connect directly, whatever the environment says
  --cacert <file>     also trust the CA certificate(s) in this PEM file
  --token <token>     a token, sent like the client sends it
  --ws-path <path>    WebSocket path, if not the URL's   (client option paths.websocket)
  --sse-path <path>   SSE path, if not the URL's         (paths.sse)
  --post-path <path>  POST path, if not the SSE path     (paths.post)
  --timeout <ms>      bound for each probe (default 5000)
  --idle <ms>         hold connections idle this long to find a proxy's idle timeout (e.g. 70000)
  --json              machine-readable report on stdout
  --no-color          no colours (also: NO_COLOR=1, or when stdout is not a terminal)

Exit code: 0 when clients get a working transport, 1 when they do not, 2 on a usage error.`

interface Parsed {
  url: string
  json: boolean
  color: boolean
  options: DoctorOptions
}

function parse(argv: string[]): Parsed | string {
  const [cmd, ...rest] = argv
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') return USAGE
  if (cmd !== 'doctor') return `unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`
  const options: DoctorOptions = {}
  const paths: NonNullable<DoctorOptions['paths']> = {}
  let url: string | undefined
  let json = false
  let color = !!process.stdout.isTTY && !process.env.NO_COLOR
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!
    const value = () => {
      const v = rest[++i]
      if (v === undefined) throw new Error(`${a} needs a value`)
      return v
    }
    const ms = () => {
      const v = value()
      const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v)
      if (!m) throw new Error(`${a} takes milliseconds (or "70s"), got ${JSON.stringify(v)}`)
      return Math.round(Number(m[1]) * (m[2] === 's' ? 1000 : 1))
    }
    if (a === '--json') json = true
    else if (a === '--no-color') color = false
    else if (a === '--color') color = true
    else if (a === '--origin') options.origin = value()
    else if (a === '--no-origin') options.origin = false
    else if (a === '--proxy') options.proxy = value()
    else if (a === '--no-proxy') options.proxy = false
    else if (a === '--cacert') options.ca = readFileSync(value(), 'utf8')
    else if (a === '--token') options.token = value()
    else if (a === '--timeout') options.timeoutMs = ms()
    else if (a === '--idle') options.idleMs = ms()
    else if (a === '--ws-path') paths.websocket = value()
    else if (a === '--sse-path') paths.sse = value()
    else if (a === '--post-path') paths.post = value()
    else if (a === '--help' || a === '-h') return USAGE
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`)
    else if (url === undefined) url = a
    else throw new Error(`unexpected argument ${JSON.stringify(a)}`)
  }
  if (!url) throw new Error('doctor needs a URL, e.g. surewire doctor https://example.com/realtime')
  if (Object.keys(paths).length) options.paths = paths
  return { url, json, color, options }
}

async function main(argv: string[]): Promise<number> {
  let parsed: Parsed | string
  try {
    parsed = parse(argv)
  } catch (err) {
    process.stderr.write(`surewire: ${(err as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  if (typeof parsed === 'string') {
    const help = parsed === USAGE
    ;(help ? process.stdout : process.stderr).write(parsed + '\n')
    return help ? 0 : 2
  }
  let report
  try {
    report = await runDoctor(parsed.url, parsed.options)
  } catch (err) {
    process.stderr.write(`surewire doctor: ${(err as Error).message}\n`)
    return 2
  }
  process.stdout.write(parsed.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report, parsed.color ? colours : plain) + '\n')
  return report.ok ? 0 : 1
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
