import type { DoctorReport } from './doctor'

export interface Style {
  green(s: string): string
  red(s: string): string
  yellow(s: string): string
  dim(s: string): string
  bold(s: string): string
}

const wrap = (open: number, close: number) => (s: string) => `\u001b[${open}m${s}\u001b[${close}m`
export const colours: Style = { green: wrap(32, 39), red: wrap(31, 39), yellow: wrap(33, 39), dim: wrap(2, 22), bold: wrap(1, 22) }
export const plain: Style = { green: (s) => s, red: (s) => s, yellow: (s) => s, dim: (s) => s, bold: (s) => s }

/** The human-readable report. */
export function formatReport(r: DoctorReport, c: Style): string {
  const out: string[] = []
  out.push(`${c.bold('surewire doctor')} ${r.url}`)
  out.push(c.dim(`  websocket ${r.endpoints.websocket}`))
  out.push(c.dim(`  sse       ${r.endpoints.sse}`))
  out.push(c.dim(`  post      ${r.endpoints.post}`))
  if (r.via) out.push(c.dim(`  via       forward proxy ${r.via}`))
  out.push(c.dim(`  in front  ${r.proxy.kind === 'unknown' ? 'not recognised' : r.proxy.kind} (${r.proxy.evidence})`))
  if (r.alpn) out.push(c.dim(`  protocol  ${r.alpn === 'h2' ? 'HTTP/2 (ALPN h2)' : 'HTTP/1.1'}${r.sseEncoding ? `; SSE ${r.sseEncoding}-compressed` : ''}`))
  out.push('')
  const width = Math.max(...r.probes.map((p) => p.name.length))
  for (const p of r.probes) {
    const mark = p.ok === true ? c.green('✓') : p.ok === false ? c.red('✗') : c.dim('-')
    const ms = p.ms === undefined ? '' : c.dim(`  [${p.ms} ms]`)
    out.push(`  ${mark} ${p.name.padEnd(width)}  ${p.ok === null ? c.dim(p.detail) : p.detail}${ms}`)
  }
  out.push('')
  const verdict = r.ok ? (r.transport === 'websocket' && !r.cause ? c.green(r.verdict) : c.yellow(r.verdict)) : c.red(r.verdict)
  out.push(`${c.bold('Verdict:')} ${verdict}`)
  for (const f of r.findings) {
    const tag = f.severity === 'error' ? c.red('error') : f.severity === 'warn' ? c.yellow('warn') : c.dim('info')
    out.push('')
    out.push(`${tag} ${c.bold(f.cause)}: ${f.message}`)
    for (const fix of f.fixes) {
      out.push(`  ${c.bold('Fix')} — ${fix.where}:`)
      for (const line of fix.snippet.split('\n')) out.push(`    ${line}`)
    }
  }
  out.push('')
  out.push(c.dim(r.ok ? 'exit 0: clients get a working transport' : 'exit 1: clients do not get a working transport'))
  return out.join('\n')
}
