/**
 * Standard Schema (https://standardschema.dev) v1 types, inlined as the spec
 * recommends so no schema library is a dependency. zod ≥ 3.24, valibot ≥ 1
 * and arktype ≥ 2 all implement it.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaV1.Props<Input, Output>
}

// eslint-disable-next-line @typescript-eslint/no-namespace -- the Standard Schema spec declares its types in this namespace; kept as published
export declare namespace StandardSchemaV1 {
  interface Props<Input = unknown, Output = Input> {
    readonly version: 1
    readonly vendor: string
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>
    readonly types?: Types<Input, Output> | undefined
  }
  type Result<Output> = SuccessResult<Output> | FailureResult
  interface SuccessResult<Output> {
    readonly value: Output
    readonly issues?: undefined
  }
  interface FailureResult {
    readonly issues: ReadonlyArray<Issue>
  }
  interface Issue {
    readonly message: string
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined
  }
  interface PathSegment {
    readonly key: PropertyKey
  }
  interface Types<Input = unknown, Output = Input> {
    readonly input: Input
    readonly output: Output
  }
  type InferInput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['input']
  type InferOutput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['output']
}

export type Infer<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<S> : unknown
export type InferIn<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : unknown

export function isStandardSchema(s: unknown): s is StandardSchemaV1 {
  // A primitive has no `~standard` (nothing is added to the built-in prototypes).
  return typeof (s as StandardSchemaV1 | null)?.['~standard']?.validate === 'function'
}

/** Render issues as one short line: `type: Invalid input; payload.x: Expected number`. */
export function formatIssues(issues: ReadonlyArray<StandardSchemaV1.Issue>): string {
  return issues
    .slice(0, 5)
    .map((i) => {
      const path = i.path?.map((p) => (typeof p === 'object' ? String(p.key) : String(p))).join('.')
      return path ? `${path}: ${i.message}` : i.message
    })
    .join('; ')
}
