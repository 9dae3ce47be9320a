/**
 * Run a real server process (nginx, caddy, uvicorn) on 127.0.0.1 for a test: wait until its
 * port accepts connections, stop it by PID, and kill it if the test process exits first.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import net from 'node:net'

/** A port that was free a moment ago (bound to 0, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/** PIDs of running daemons, killed if the test process exits without stopping them. */
const running = new Set<number>()
process.once('exit', () => {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      /* already gone */
    }
  }
})

export interface Daemon {
  pid: number
  /** What it wrote to stderr. */
  stderr(): string
  /** SIGTERM, SIGKILL after 5 s, then remove `prefix`. */
  stop(): Promise<void>
}

/**
 * Spawn `bin args` and wait (≤ 10 s) for `port` to accept connections. Resolves the daemon, or
 * `{ failed: stderr }` after killing it and removing `prefix` when it exited or never listened.
 */
export async function startDaemon(
  bin: string,
  args: string[],
  opts: { port: number; prefix: string; env?: NodeJS.ProcessEnv },
): Promise<Daemon | { failed: string }> {
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env: opts.env ?? process.env })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000)
  })
  let exited = false
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())))
  const start = Date.now()
  while (!exited && !(await canConnect(opts.port))) {
    if (Date.now() - start > 10_000) break
    await new Promise((r) => setTimeout(r, 20))
  }
  if (!exited && child.pid !== undefined && (await canConnect(opts.port))) {
    const pid = child.pid
    running.add(pid)
    void exit.then(() => running.delete(pid))
    return {
      pid,
      stderr: () => stderr,
      async stop() {
        if (!exited) {
          process.kill(pid, 'SIGTERM')
          const killTimer = setTimeout(() => !exited && process.kill(pid, 'SIGKILL'), 5_000)
          await exit
          clearTimeout(killTimer)
        }
        rmSync(opts.prefix, { recursive: true, force: true })
      },
    }
  }
  if (!exited && child.pid !== undefined) {
    process.kill(child.pid, 'SIGKILL')
    await exit
  }
  rmSync(opts.prefix, { recursive: true, force: true })
  return { failed: stderr }
}
