/**
 * `Schema`: the public face of the runtime validators (`GenerateRequestSchema`,
 * `EngineConfigSchema`, `WorkerConfigSchema`, the model-card schemas). They are zod
 * schemas inside; the public type names only `parse` and `safeParse`, so the API does
 * not expose (or promise) the validation library.
 *
 * @module
 */

/** One problem found while validating a value. */
export interface SchemaIssue {
  /** Keys from the root of the value to the offending field (empty for the root). */
  readonly path: readonly PropertyKey[];
  /** What is wrong with the field, in words. */
  readonly message: string;
}

/** Why a value failed validation. */
export interface SchemaError extends Error {
  /** Every problem found, in order; the first names the field to report. */
  readonly issues: readonly SchemaIssue[];
}

/** The outcome of {@linkcode Schema.safeParse}: the validated value, or why it was refused. */
export type SchemaResult<T> =
  | { readonly success: true; readonly data: T }
  | { readonly success: false; readonly error: SchemaError };

/**
 * A runtime validator for values of type `T`. The returned value is a new object with
 * defaults filled in; the input is not modified.
 *
 * @example
 * ```ts
 * import { EngineConfigSchema } from "./engine_config.ts";
 * const result = EngineConfigSchema.safeParse({ model: "" });
 * console.assert(!result.success && result.error.issues[0].path[0] === "model");
 * ```
 */
export interface Schema<T> {
  /**
   * Returns the validated value.
   * @throws {SchemaError} when `value` does not match; callers at a trust boundary turn it
   * into an `InvalidArgument` SluiceError (`invalidArgumentFromZod` does that).
   */
  parse(value: unknown): T;
  /** Like {@linkcode Schema.parse}, but returns the outcome instead of throwing. */
  safeParse(value: unknown): SchemaResult<T>;
}

/**
 * `true` when `A` and `B` are the same type, else `false`. Internal: the modules that
 * declare a documented interface beside its zod schema use it to prove, at compile time,
 * that the two describe the same values.
 */
export type IsSameType<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2)
  ? true
  : false;

/** Compiles only when `T` is `true`; pairs with {@linkcode IsSameType}. */
export type Expect<T extends true> = T;
