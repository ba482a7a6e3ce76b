/**
 * Takes one command's own string flags out of an argument list and leaves the rest, in order,
 * for the next parser (the engine's). Used where flags of two owners share one command line
 * (`sluice serve` and the plane flags of `sluice worker`).
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { SluiceError } from "../errors/sluice_error.ts";

/**
 * Takes every `--name value` / `--name=value` of `options` out of `argv`. Short flags and
 * unknown flags stay in `rest`, in their original order. A flag given twice keeps the last value.
 *
 * @example
 * ```ts
 * import { takeFlags } from "./take_flags.ts";
 * const { values, rest } = takeFlags(["--port", "9", "--delay-ms", "0"], { port: { type: "string" } });
 * console.assert(values.port === "9" && rest.join(" ") === "--delay-ms 0");
 * ```
 * @throws {SluiceError} `InvalidArgument` naming the flag when one of `options` has no value.
 */
export function takeFlags<K extends string>(
  argv: string[],
  options: Record<K, { type: "string" }> & NonNullable<ParseArgsConfig["options"]>,
): { values: Partial<Record<K, string>>; rest: string[] } {
  const values: Partial<Record<K, string>> = {};
  const { tokens } = parseArgs({
    args: argv,
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const taken = new Set<number>();
  for (const token of tokens) {
    if (token.kind !== "option" || !Object.hasOwn(options, token.name)) continue;
    if (!token.rawName.startsWith("--")) continue;
    const value = token.value;
    if (value === undefined || (!token.inlineValue && value.startsWith("--"))) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot parse ${token.rawName}: a value is required`,
        {
          param: token.rawName,
        },
      );
    }
    values[token.name as K] = value;
    taken.add(token.index);
    if (!token.inlineValue) taken.add(token.index + 1);
  }
  return { values, rest: argv.filter((_, i) => !taken.has(i)) };
}
