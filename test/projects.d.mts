/** Types for test/projects.mjs (plain JS so scripts/vitest.mjs can read it without a TS loader). */
export interface Project {
  name: string
  include: string[]
  /** System programs the suite drives (keys of scripts/e2e-needs.mjs). */
  needs?: string[]
}
export declare const unit: Project[]
export declare const e2e: Project[]
