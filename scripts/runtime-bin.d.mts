/** Types for scripts/runtime-bin.mjs. */
export declare const runtimes: Record<'node24' | 'bun' | 'deno', { spec: string; bin: string }>
/** The absolute path of the runtime's binary, installed from npm into .cache/<name>/ on first use. */
export declare function runtimeBinary(name: 'node24' | 'bun' | 'deno'): string
