/**
 * Turns a zod validation failure into the `InvalidArgument` SluiceError that
 * names the first offending field.
 *
 * @module
 */
import type { z } from "zod";
import { SluiceError } from "../errors/sluice_error.ts";

/**
 * Builds `InvalidArgument` from the first issue of `error`: message
 * `${action}: ${path}: ${issue}`, `param` from `paramOf(path)` (default: the dotted path).
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
  error: z.ZodError,
  action: string,
  options: { paramOf?(path: string): string; code?: string } = {},
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
