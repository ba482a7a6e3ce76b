/**
 * `sluice bench`: the load generator (`src/bench/load_generator.ts`) against an
 * OpenAI-compatible server: TTFT, ITL, latency percentiles, output tokens/s and
 * requests/s, as AIPerf defines them.
 *
 * @module
 */
import { LOAD_HELP, runLoadCommandLine } from "../../src/bench/load_command_line.ts";
import { SluiceError } from "../../src/errors/sluice_error.ts";
import type { Runtime } from "../../src/runtime/runtime.ts";

/** Help text of the bench command. */
export function benchHelp(): string {
  return LOAD_HELP;
}

/**
 * Runs the load generator with `argv`: summaries on stdout, progress on stderr. Bad flags
 * are `InvalidArgument`; failed requests make it reject after the summaries are printed.
 */
export async function benchCommand(argv: string[], runtime: Runtime): Promise<void> {
  let results;
  try {
    results = await runLoadCommandLine(argv, {
      fetch: (input, init) => fetch(input, init),
      log: (text) => console.log(text),
      progress: (line) => console.error(line),
      writeTextFile: runtime.writeTextFile,
      readTextFile: runtime.readTextFile,
    });
  } catch (error) {
    if (error instanceof TypeError) {
      throw new SluiceError("InvalidArgument", `Cannot parse flags: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
  const errors = results.reduce((sum, r) => sum + r.errors, 0);
  if (errors > 0) {
    throw new SluiceError("Unknown", `Benchmark finished with ${errors} failed requests`);
  }
}
