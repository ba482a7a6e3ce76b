/**
 * The load generator as a script (the library is `src/bench/load_generator.ts`; `sluice
 * bench` runs the same command line):
 *
 *     deno run -A bench/load.ts --url http://127.0.0.1:8000 --concurrency 64 --requests 2000
 *     bun bench/load.ts --url ... --json out.json
 *
 * @module
 */
import { readFile, writeFile } from "node:fs/promises";
import process from "node:process";
import { LOAD_HELP, runLoadCommandLine } from "../src/bench/load_command_line.ts";
import type { LoadResult } from "../src/bench/load_generator.ts";
import type { ReplayResult } from "../src/bench/trace_replay.ts";
import { currentRuntime } from "../src/runtime/runtime.ts";

export { formatResult, runLoad } from "../src/bench/load_generator.ts";
export type { LoadOptions, LoadResult } from "../src/bench/load_generator.ts";
export { distribution, percentile } from "../src/bench/load_statistics.ts";
export type { Distribution } from "../src/bench/load_statistics.ts";
export { LOAD_HELP };

/** Command-line entry: runs the levels, prints summaries, progress on one stderr line. */
export async function loadMain(argv: string[]): Promise<(LoadResult | ReplayResult)[]> {
  let progressShown = false;
  try {
    return await runLoadCommandLine(argv, {
      fetch: (input, init) => fetch(input, init),
      log: (text) => {
        if (progressShown) process.stderr.write("\n");
        progressShown = false;
        console.log(text);
      },
      progress: (line) => {
        progressShown = true;
        process.stderr.write(`\r${line}   `);
      },
      writeTextFile: (path, text) => writeFile(path, text),
      readTextFile: (path) => readFile(path, "utf8"),
    });
  } finally {
    if (progressShown) process.stderr.write("\n");
  }
}

if (import.meta.main) {
  const runtime = currentRuntime();
  try {
    await loadMain(runtime.args());
  } catch (error) {
    console.error(`load: ${(error as Error).message}`);
    runtime.exit(2);
  }
}
