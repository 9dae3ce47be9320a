/** Reference servers in separate processes (no shared memory, like replicas), stopped by PID. */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export interface ServerProcess {
  port: number
  pid: number
  stop(): Promise<void>
}

const script = fileURLToPath(new URL('./server-process.ts', import.meta.url))

export function startServerProcess(): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error('server process did not start within 30 s'))), 30_000)
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /port (\d+)/.exec(out)
      if (!m) return
      clearTimeout(timer)
      resolve({
        port: Number(m[1]),
        pid: child.pid!,
        async stop() {
          if (child.exitCode === null) process.kill(child.pid!, 'SIGTERM')
          const kill = setTimeout(() => child.exitCode === null && process.kill(child.pid!, 'SIGKILL'), 5_000)
          await exited
          clearTimeout(kill)
        },
      })
    })
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`server process exited with ${code}`))))
  })
}
