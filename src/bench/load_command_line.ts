/**
 * The load generator's command line, shared by `sluice bench` and `bench/load.ts`:
 * flag parsing and a runner whose output, HTTP client and file writer are injected.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { formatResult, type LoadOptions, type LoadResult, runLoad } from "./load_generator.ts";
import { formatReplay, type ReplayResult, replayTrace } from "./trace_replay.ts";
import {
  formatTrace,
  generateWorkload,
  parseTrace,
  type WorkloadOptions,
} from "./workload_trace.ts";

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
  --quiet              no progress display

Traces (shared-prefix multi-turn traffic, Mooncake/Dynamo JSON-lines format):
  --trace FILE         replay FILE open-loop at its timestamps (/v1/completions, token ids)
                       instead of the concurrency runs; reports TTFT, throughput, cache hit rate
  --time-scale X       multiply trace timestamps by X (default 1; 0.5 = twice as fast)
  --make-trace FILE    write a generated trace to FILE and exit, from:
    --requests N       requests (default 200)
    --groups N         shared-prefix groups (default 16)
    --prefix-tokens A-B  shared prefix length range in tokens (default 2048-8192)
    --turns N          turns per conversation (default 3)
    --rate R           mean Poisson arrival rate, requests/s (default 10)
    --output-tokens N  output tokens per request (default 64)
    --seed N           generator seed (default 1)`;

/** The parsed command line: one run per concurrency level. */
export interface LoadCommandLine {
  runs: Omit<LoadOptions, "fetch" | "progress" | "signal">[];
  /** Where to write the results as JSON, if anywhere. */
  json?: string;
  quiet: boolean;
  /** `--trace`: the trace file to replay instead of the runs. */
  trace?: string;
  /** `--time-scale`. */
  timeScale: number;
  /** `--make-trace`: where to write a generated trace, and how to generate it. */
  makeTrace?: { path: string; workload: WorkloadOptions };
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
      trace: { type: "string" },
      "time-scale": { type: "string", default: "1" },
      "make-trace": { type: "string" },
      groups: { type: "string", default: "16" },
      "prefix-tokens": { type: "string", default: "2048-8192" },
      turns: { type: "string", default: "3" },
      rate: { type: "string", default: "10" },
      "output-tokens": { type: "string", default: "64" },
      seed: { type: "string", default: "1" },
    },
    strict: true,
  });
  const positive = (raw: string, flag: string) => {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n) || n <= 0) {
      throw new TypeError(`--${flag}: expected a number > 0, got "${raw}"`);
    }
    return n;
  };
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
  const timeScale = positive(values["time-scale"]!, "time-scale");
  let makeTrace: LoadCommandLine["makeTrace"];
  if (values["make-trace"] !== undefined) {
    const range = /^(\d+)-(\d+)$/.exec(values["prefix-tokens"]!);
    if (range === null || Number(range[1]) < 1 || Number(range[1]) > Number(range[2])) {
      throw new TypeError(`--prefix-tokens: expected MIN-MAX, got "${values["prefix-tokens"]}"`);
    }
    makeTrace = {
      path: values["make-trace"],
      workload: {
        requests: int(values.requests!, "requests", 1),
        groups: int(values.groups!, "groups", 1),
        prefixTokens: [Number(range[1]), Number(range[2])],
        turns: int(values.turns!, "turns", 1),
        rate: positive(values.rate!, "rate"),
        outputTokens: int(values["output-tokens"]!, "output-tokens", 1),
        seed: int(values.seed!, "seed", 0),
      },
    };
  }
  return {
    runs,
    json: values.json,
    quiet: values.quiet!,
    trace: values.trace,
    timeScale,
    makeTrace,
  };
}

/** What {@linkcode runLoadCommandLine} writes to and reads from. */
export interface LoadCommandLineIO {
  /** The HTTP client. */
  fetch: typeof fetch;
  /** Prints a result summary (stdout). */
  log(text: string): void;
  /** Shows a progress line (stderr); absent or `--quiet`: no progress. */
  progress?(line: string): void;
  /** Writes the `--json` and `--make-trace` files. */
  writeTextFile(path: string, text: string): Promise<void>;
  /** Reads the `--trace` file. */
  readTextFile?(path: string): Promise<string>;
  signal?: AbortSignal;
}

/**
 * Runs every level of the command line in turn, logging each summary; returns the results.
 * @throws {TypeError} for bad flags (before any request is sent).
 */
export async function runLoadCommandLine(
  argv: string[],
  io: LoadCommandLineIO,
): Promise<(LoadResult | ReplayResult)[]> {
  const { runs, json, quiet, trace, timeScale, makeTrace } = parseLoadArgs(argv);
  if (makeTrace !== undefined) {
    const entries = generateWorkload(makeTrace.workload);
    await io.writeTextFile(makeTrace.path, formatTrace(entries));
    io.log(`wrote ${entries.length} requests to ${makeTrace.path}`);
    return [];
  }
  if (trace !== undefined) {
    if (io.readTextFile === undefined) throw new TypeError("--trace: cannot read files here");
    const result = await replayTrace({
      url: runs[0].url,
      model: runs[0].model,
      trace: parseTrace(await io.readTextFile(trace)),
      timeScale,
      fetch: io.fetch,
      progress: quiet ? undefined : io.progress,
      signal: io.signal,
    });
    io.log(formatReplay(`${runs[0].url} trace ${trace}`, result));
    if (json !== undefined) await io.writeTextFile(json, JSON.stringify([result], null, 2) + "\n");
    return [result];
  }
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
