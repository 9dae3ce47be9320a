/**
 * The runner's side of the one-stack server (solo.ts) and client fleet (fleet.ts) workers:
 * start them from the bundled .mjs (see BUILD_DIR in run.ts), talk to them, stop them by PID.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { build, type BuildOptions } from 'esbuild'
import type { FleetCommand, FleetReport, FleetTask, SoloReady, SoloRequest, SoloStack } from './shared'

/**
 * Bundle the workers (with surewire's src/ and the test proxy inlined, packages external) from
 * `suiteDir` to plain .mjs in `outDir`, the way tsup builds dist/: the workers then start without a
 * TypeScript loader, and the measured code is what users run (tsx's transform adds a `__name()`
 * call to every function created at run time).
 */
export async function buildBenchWorkers(suiteDir: string, outDir: string): Promise<void> {
  await build({ ...NODE_WORKER_BUILD, entryPoints: Object.fromEntries(['client', 'server', 'solo', 'fleet'].map((n) => [n, join(suiteDir, `${n}.ts`)])), outdir: outDir })
}

/** A bench worker as plain .mjs for Node 20: surewire's src/ inlined, packages external (also bench/rtt-trace.ts). */
export const NODE_WORKER_BUILD = {
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
} as const satisfies BuildOptions

type Req = SoloRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never

export interface Solo {
  proc: ChildProcess
  port: number
  request<T = unknown>(req: Req): Promise<T>
  /** Ask it to close its server and exit; kill it if it has not within 5 s. */
  stop(): Promise<void>
}

/** Start solo.ts with one stack; `execArgv` e.g. ['--expose-gc']. */
export function startSolo(buildDir: string, stack: SoloStack, execArgv: string[] = []): Promise<Solo> {
  const proc = fork(join(buildDir, 'solo.mjs'), [stack], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  let nextId = 1
  let exited: Error | undefined
  const gone = new Promise<void>((r) => proc.once('exit', () => r()))
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => {
      exited = new Error(`solo ${stack} server exited (${code})`)
      reject(exited)
      for (const p of pending.values()) p.reject(exited)
      pending.clear()
    })
    proc.on('message', (m: { ready?: SoloReady; id?: number; result?: unknown; error?: string }) => {
      if (m.ready) {
        const solo: Solo = {
          proc,
          port: m.ready.port,
          request: <T>(req: Req) =>
            new Promise<T>((res, rej) => {
              if (exited) return rej(exited)
              const id = nextId++
              pending.set(id, { resolve: res as (v: unknown) => void, reject: rej })
              proc.send({ ...req, id })
            }),
          async stop() {
            if (!exited) {
              const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000)
              await solo.request({ cmd: 'exit' }).catch(() => {})
              await gone
              clearTimeout(timer)
            }
          },
        }
        resolve(solo)
      } else if (m.id !== undefined) {
        const p = pending.get(m.id)
        pending.delete(m.id)
        if (m.error !== undefined) p?.reject(new Error(m.error))
        else p?.resolve(m.result)
      }
    })
  })
}

export interface Fleet {
  proc: ChildProcess
  /** Reset the tick counters; resolves with the report once every client has `n` ticks. */
  expect(n: number): Promise<{ armed: Promise<void>; done: Promise<{ at: number; cpuUs: number }> }>
  /** Close every client and wait for the process to exit (killed after 10 s). */
  close(): Promise<void>
}

/** Start fleet.ts; resolves once all its clients are connected. Rejects if that takes longer than `limitMs`. */
export function startFleet(buildDir: string, task: FleetTask, limitMs = 120_000): Promise<Fleet> {
  const proc = fork(join(buildDir, 'fleet.mjs'), [JSON.stringify(task)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const gone = new Promise<void>((r) => proc.once('exit', () => r()))
  let listener: ((m: FleetReport) => void) | undefined
  proc.on('message', (m: FleetReport) => listener?.(m))
  const close = async () => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
    if (proc.connected) proc.send({ cmd: 'close' } satisfies FleetCommand)
    await gone
    clearTimeout(timer)
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`fleet of ${task.clients} ${task.impl} clients not connected within ${limitMs} ms`))
    }, limitMs)
    void gone.then(() => {
      clearTimeout(timer)
      reject(new Error(`fleet of ${task.clients} ${task.impl} clients exited before connecting`))
    })
    listener = (m) => {
      if (!('ready' in m)) return
      clearTimeout(timer)
      resolve({
        proc,
        expect: (n) =>
          new Promise((res) => {
            let armed!: () => void
            let done!: (d: { at: number; cpuUs: number }) => void
            const a = new Promise<void>((r) => (armed = r))
            const d = new Promise<{ at: number; cpuUs: number }>((r) => (done = r))
            listener = (r) => {
              if ('armed' in r) armed()
              else if ('done' in r) done(r.done)
            }
            proc.send({ cmd: 'expect', n } satisfies FleetCommand)
            res({ armed: a, done: d })
          }),
        close,
      })
    }
  })
}

/** Poll `check` every 50 ms until it returns true; throws after `limitMs`. */
export async function until(what: string, check: () => Promise<boolean>, limitMs = 60_000): Promise<void> {
  const end = Date.now() + limitMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
