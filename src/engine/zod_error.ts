/**
 * Turns a zod validation failure into the `InvalidArgument` SluiceError that
 * names the first offending field.
 *
 * @module
 */
import { type ErrorCode, SluiceError } from "../errors/sluice_error.ts";
import type { SchemaError } from "./schema.ts";

/** Options for {@linkcode invalidArgumentFromZod}. */
export interface InvalidArgumentOptions {
  /** Maps the dotted path of the offending field to the error's `param` (e.g. a flag name). */
  paramOf?(path: string): string;
  /** The error's `code` for the HTTP edge. */
  code?: ErrorCode;
}

/**
 * Builds `InvalidArgument` from the first issue of `error` (a zod error, or any
 * {@linkcode SchemaError}): message `${action}: ${path}: ${issue}`, `param` from
 * `paramOf(path)` (default: the dotted path; `request` for the root), `cause` the error.
 * `error` MUST carry at least one issue.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { invalidArgumentFromZod } from "./zod_error.ts";
 * const r = z.object({ n: z.number() }).safeParse({ n: "x" });
 * if (!r.success) console.log(invalidArgumentFromZod(r.error, "Cannot accept request").param); // "n"
 * ```
 */
export function invalidArgumentFromZod(
  error: SchemaError,
  action: string,
  options: InvalidArgumentOptions = {},
): SluiceError {
  const issue = error.issues[0];
  const path = issue.path.map(String).join(".") || "request";
  const param = options.paramOf ? options.paramOf(path) : path;
  return new SluiceError("InvalidArgument", `${action}: ${path}: ${issue.message}`, {
    param,
    code: options.code,
    cause: error,
  });
}
