/** One reference server in its own process (for multi-process setups): prints `port <n>` once listening. */
import { startServer } from '../support/servers'

const s = await startServer({}, Number(process.argv[2] ?? 0))
process.stdout.write(`port ${s.port}\n`)
process.on('SIGTERM', () => void s.close().then(() => process.exit(0)))
