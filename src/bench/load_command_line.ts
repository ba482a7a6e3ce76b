/**
 * The load generator's command line, shared by `sluice bench` and `bench/load.ts`:
 * flag parsing and a runner whose output, HTTP client and file writer are injected.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { formatResult, type LoadOptions, type LoadResult, runLoad } from "./load_generator.ts";

/** Help of the command line. */
export const LOAD_HELP = `Usage: sluice bench [flags]   (or: bench/load.ts [flags])

Streams requests at an OpenAI-compatible server and reports TTFT, ITL and latency
(avg/p50/p90/p99, AIPerf definitions), output tokens/s and requests/s.

  --url URL            server base URL (default http://127.0.0.1:8000)
  --model NAME         model (default sample-model)
  --endpoint KIND      chat | completions (default chat)
  --concurrency N      requests in flight (default 1; a list like 1,64,512 runs each)
  --requests N         measured requests per level (default 200)
  --warmup N           unmeasured requests first (default: the concurrency)
  --max-tokens N       max_tokens per request (default 100)
  --json PATH          also write the results as JSON
  --quiet              no progress display`;

/** The parsed command line: one run per concurrency level. */
export interface LoadCommandLine {
  runs: Omit<LoadOptions, "fetch" | "progress" | "signal">[];
  /** Where to write the results as JSON, if anywhere. */
  json?: string;
  quiet: boolean;
}

/**
 * Parses the flags of {@linkcode LOAD_HELP}.
 * @throws {TypeError} naming the flag when one is unknown or malformed.
 */
export function parseLoadArgs(argv: string[]): LoadCommandLine {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: "string", default: "http://127.0.0.1:8000" },
      model: { type: "string", default: "sample-model" },
      endpoint: { type: "string", default: "chat" },
      concurrency: { type: "string", default: "1" },
      requests: { type: "string", default: "200" },
      warmup: { type: "string" },
      "max-tokens": { type: "string", default: "100" },
      json: { type: "string" },
      quiet: { type: "boolean", default: false },
    },
    strict: true,
  });
  const int = (raw: string, flag: string, min: number) => {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isInteger(n) || n < min) {
      throw new TypeError(`--${flag}: expected an integer >= ${min}, got "${raw}"`);
    }
    return n;
  };
  if (values.endpoint !== "chat" && values.endpoint !== "completions") {
    throw new TypeError(`--endpoint: expected chat or completions, got "${values.endpoint}"`);
  }
  const endpoint: "chat" | "completions" = values.endpoint;
  const runs = values.concurrency!.split(",").map((level) => ({
    url: values.url!.replace(/\/$/, ""),
    model: values.model!,
    endpoint,
    concurrency: int(level, "concurrency", 1),
    requests: int(values.requests!, "requests", 1),
    warmup: values.warmup === undefined ? undefined : int(values.warmup, "warmup", 0),
    maxTokens: int(values["max-tokens"]!, "max-tokens", 1),
  }));
  return { runs, json: values.json, quiet: values.quiet! };
}

/** What {@linkcode runLoadCommandLine} writes to and reads from. */
export interface LoadCommandLineIO {
  /** The HTTP client. */
  fetch: typeof fetch;
  /** Prints a result summary (stdout). */
  log(text: string): void;
  /** Shows a progress line (stderr); absent or `--quiet`: no progress. */
  progress?(line: string): void;
  /** Writes the `--json` file. */
  writeTextFile(path: string, text: string): Promise<void>;
  signal?: AbortSignal;
}

/**
 * Runs every level of the command line in turn, logging each summary; returns the results.
 * @throws {TypeError} for bad flags (before any request is sent).
 */
export async function runLoadCommandLine(
  argv: string[],
  io: LoadCommandLineIO,
): Promise<LoadResult[]> {
  const { runs, json, quiet } = parseLoadArgs(argv);
  const results: LoadResult[] = [];
  for (const run of runs) {
    const result = await runLoad({
      ...run,
      fetch: io.fetch,
      progress: quiet ? undefined : io.progress,
      signal: io.signal,
    });
    io.log(formatResult(result));
    results.push(result);
  }
  if (json !== undefined) await io.writeTextFile(json, JSON.stringify(results, null, 2) + "\n");
  return results;
}
