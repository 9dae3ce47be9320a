import { spawn } from 'node:child_process'
import { startServer } from './test/support/servers'
import { runDoctor } from './src/cli/doctor'
import { formatReport, plain } from './src/cli/format'
import { clientOutcome } from './test/deployments/agree'
const s = await startServer({}, 39123)
const child = spawn(process.execPath, ['node_modules/next/dist/bin/next', 'start', '-p', '39200', '-H', '127.0.0.1'], { cwd: '/tmp/nxr', env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' }, stdio: 'inherit' })
await new Promise((r) => setTimeout(r, 4000))
const url = 'http://127.0.0.1:39200/realtime'
console.log(formatReport(await runDoctor(url), plain).split('\n').filter(l=>!/^\s{4}/.test(l)).join('\n'))
console.log(formatReport(await runDoctor(url, { origin: false }), plain).split('\n').filter(l=>/Verdict|✗|✓/.test(l)).join('\n'))
const b = await clientOutcome(url, { origin: 'http://127.0.0.1:39200', boundMs: 8000 })
console.log('browser-like', b.transport, b.openReason, b.closed)
const n = await clientOutcome(url, { boundMs: 8000 })
console.log('node', n.transport, n.openReason, n.closed)
child.kill(); await s.close()
