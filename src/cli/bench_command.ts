/**
 * `sluice bench`: the load generator (`bench/load.ts`) against an OpenAI-compatible
 * server: TTFT, ITL, latency percentiles, output tokens/s and requests/s, as AIPerf
 * defines them.
 *
 * @module
 */
import { LOAD_HELP, loadMain } from "../../bench/load.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { SluiceError } from "../errors/sluice_error.ts";

/** Help text of the bench command. */
export function benchHelp(): string {
  return LOAD_HELP;
}

/** Runs the load generator with `argv`; bad flags are `InvalidArgument`. */
export async function benchCommand(argv: string[], _runtime: Runtime): Promise<void> {
  try {
    const results = await loadMain(argv);
    const errors = results.reduce((sum, r) => sum + r.errors, 0);
    if (errors > 0) {
      throw new SluiceError("Unknown", `Benchmark finished with ${errors} failed requests`);
    }
  } catch (error) {
    if (error instanceof TypeError) {
      throw new SluiceError("InvalidArgument", `Cannot parse flags: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
}
