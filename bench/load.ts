/**
 * A load generator for OpenAI-compatible streaming endpoints (`sluice bench`).
 *
 * Metrics are defined as AIPerf defines them:
 * - TTFT: time from sending the request to the first response chunk with non-empty content;
 * - ITL: (request latency − TTFT) / (output tokens − 1), per request;
 * - request latency: time from sending the request to the end of the stream (`[DONE]`);
 * - output token throughput: output tokens of all requests / benchmark duration;
 * - request throughput: completed requests / benchmark duration.
 * Output tokens come from the usage chunk when the server sends one
 * (`stream_options.include_usage`), else from the number of content chunks.
 * The benchmark duration runs from the first request sent to the last response finished,
 * after a warm-up that is not counted.
 *
 *     deno run -A bench/load.ts --url http://127.0.0.1:8000 --concurrency 64 --requests 2000
 *     bun bench/load.ts --url ... --json out.json
 *
 * @module
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { writeFile } from "node:fs/promises";

/** Options for {@linkcode runLoad}. */
export interface LoadOptions {
  /** Base URL, e.g. `http://127.0.0.1:8000`. */
  url: string;
  model: string;
  /** `chat` (`/v1/chat/completions`) or `completions` (`/v1/completions`). */
  endpoint?: "chat" | "completions";
  /** Requests kept in flight. */
  concurrency: number;
  /** Requests measured (after the warm-up). */
  requests: number;
  /** Requests sent first and not measured (default: `concurrency`). */
  warmup?: number;
  /** `max_tokens` of each request (default 100). */
  maxTokens?: number;
  /** Print progress to stderr every 500 ms (default false). */
  progress?: boolean;
  /** Label printed with the progress line. */
  label?: string;
}

/** Percentile summary of one metric, in milliseconds (or the metric's unit). */
export interface Distribution {
  avg: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** What {@linkcode runLoad} reports. */
export interface LoadResult {
  url: string;
  endpoint: string;
  concurrency: number;
  requests: number;
  completed: number;
  errors: number;
  /** First few error messages. */
  errorSamples: string[];
  durationSeconds: number;
  requestsPerSecond: number;
  outputTokensPerSecond: number;
  outputTokens: number;
  ttftMs: Distribution;
  itlMs: Distribution;
  latencyMs: Distribution;
}

interface RequestSample {
  ttftMs: number;
  latencyMs: number;
  tokens: number;
}

/** Nearest-rank percentile over a sorted array. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Summarises `values`. */
export function distribution(values: number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    avg: sorted.length ? sum / sorted.length : Number.NaN,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

const decoder = new TextDecoder();

/** Sends one streaming request and measures it. Throws on HTTP or stream errors. */
async function oneRequest(options: LoadOptions, index: number): Promise<RequestSample> {
  const endpoint = options.endpoint ?? "chat";
  const common = {
    model: options.model,
    max_tokens: options.maxTokens ?? 100,
    stream: true,
    stream_options: { include_usage: true },
  };
  // A different prompt per request, so nothing can be served from a cache.
  const text = `Request ${index}: write a short story about a lighthouse.`;
  const body = endpoint === "chat"
    ? { ...common, messages: [{ role: "user", content: text }] }
    : { ...common, prompt: text };
  const path = endpoint === "chat" ? "/v1/chat/completions" : "/v1/completions";
  const start = performance.now();
  const response = await fetch(options.url + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok || response.body === null) {
    throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
  }
  let ttft = -1;
  let contentChunks = 0;
  let usageTokens = -1;
  let done = false;
  let buffer = "";
  const reader = response.body.getReader();
  // Frames are parsed as JSON only until the first content arrives (for TTFT) and when they
  // look like a usage or error frame; the rest are counted by scanning, so the generator
  // spends its time waiting on the server rather than parsing.
  while (true) {
    const { done: end, value } = await reader.read();
    if (end) break;
    buffer += decoder.decode(value, { stream: true });
    let at = 0;
    let cut: number;
    while ((cut = buffer.indexOf("\n\n", at)) !== -1) {
      const frameStart = at;
      at = cut + 2;
      if (!buffer.startsWith("data: ", frameStart)) continue;
      const data = buffer.slice(frameStart + 6, cut);
      if (data === "[DONE]") {
        done = true;
        continue;
      }
      const special = data.startsWith('{"error"') || data.includes('"usage":{');
      if (ttft >= 0 && !special) {
        contentChunks++;
        continue;
      }
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(`stream error: ${JSON.stringify(chunk.error)}`);
      if (chunk.usage) usageTokens = chunk.usage.completion_tokens;
      const choice = chunk.choices?.[0];
      const content = choice?.delta?.content ?? choice?.text;
      if (typeof content === "string" && content.length > 0) {
        contentChunks++;
        if (ttft < 0) ttft = performance.now() - start;
      }
    }
    buffer = buffer.slice(at);
  }
  const latency = performance.now() - start;
  if (!done) throw new Error("stream ended without [DONE]");
  if (ttft < 0) throw new Error("no content received");
  return {
    ttftMs: ttft,
    latencyMs: latency,
    tokens: usageTokens >= 0 ? usageTokens : contentChunks,
  };
}

/**
 * Runs the load: a warm-up, then `requests` requests with `concurrency` in flight.
 *
 * @example
 * ```ts ignore
 * const result = await runLoad({ url: "http://127.0.0.1:8000", model: "sample-model", concurrency: 8, requests: 100 });
 * console.log(result.requestsPerSecond);
 * ```
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const warmup = options.warmup ?? options.concurrency;
  const run = async (total: number, offset: number, samples: RequestSample[], errors: string[]) => {
    let next = 0;
    const workers = Array.from({ length: Math.min(options.concurrency, total) }, async () => {
      while (next < total) {
        const index = offset + next++;
        try {
          samples.push(await oneRequest(options, index));
        } catch (error) {
          errors.push((error as Error).message);
        }
      }
    });
    await Promise.all(workers);
  };
  await run(warmup, 0, [], []);
  const samples: RequestSample[] = [];
  const errors: string[] = [];
  const start = performance.now();
  let timer: ReturnType<typeof setInterval> | undefined;
  if (options.progress) {
    timer = setInterval(() => {
      const seconds = (performance.now() - start) / 1000;
      process.stderr.write(
        `\r${
          options.label ?? ""
        } c=${options.concurrency}: ${samples.length}/${options.requests} ` +
          `done, ${errors.length} errors, ${(samples.length / seconds).toFixed(0)} req/s   `,
      );
    }, 500);
  }
  try {
    await run(options.requests, warmup, samples, errors);
  } finally {
    clearInterval(timer);
    if (options.progress) process.stderr.write("\n");
  }
  const durationSeconds = (performance.now() - start) / 1000;
  const outputTokens = samples.reduce((sum, s) => sum + s.tokens, 0);
  return {
    url: options.url,
    endpoint: options.endpoint ?? "chat",
    concurrency: options.concurrency,
    requests: options.requests,
    completed: samples.length,
    errors: errors.length,
    errorSamples: [...new Set(errors)].slice(0, 5),
    durationSeconds,
    requestsPerSecond: samples.length / durationSeconds,
    outputTokensPerSecond: outputTokens / durationSeconds,
    outputTokens,
    ttftMs: distribution(samples.map((s) => s.ttftMs)),
    itlMs: distribution(
      samples.filter((s) => s.tokens > 1).map((s) => (s.latencyMs - s.ttftMs) / (s.tokens - 1)),
    ),
    latencyMs: distribution(samples.map((s) => s.latencyMs)),
  };
}

/** A human-readable summary of a result. */
export function formatResult(result: LoadResult): string {
  const row = (name: string, d: Distribution) =>
    `  ${name.padEnd(18)} avg ${d.avg.toFixed(2).padStart(9)}  p50 ${
      d.p50.toFixed(2).padStart(9)
    }  ` +
    `p90 ${d.p90.toFixed(2).padStart(9)}  p99 ${d.p99.toFixed(2).padStart(9)}`;
  return [
    `${result.url} ${result.endpoint} concurrency ${result.concurrency}: ${result.completed}/${result.requests} ok, ${result.errors} errors in ${
      result.durationSeconds.toFixed(2)
    } s`,
    `  requests/s ${result.requestsPerSecond.toFixed(1)}   output tokens/s ${
      result.outputTokensPerSecond.toFixed(0)
    }`,
    row("TTFT (ms)", result.ttftMs),
    row("ITL (ms)", result.itlMs),
    row("latency (ms)", result.latencyMs),
    ...result.errorSamples.map((e) => `  error: ${e}`),
  ].join("\n");
}

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

/** Command-line entry (`sluice bench` and `bench/load.ts`); returns the results. */
export async function loadMain(argv: string[]): Promise<LoadResult[]> {
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
  const int = (raw: string, flag: string) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) {
      throw new TypeError(`--${flag}: expected an integer >= 1, got "${raw}"`);
    }
    return n;
  };
  if (values.endpoint !== "chat" && values.endpoint !== "completions") {
    throw new TypeError(`--endpoint: expected chat or completions, got "${values.endpoint}"`);
  }
  const results: LoadResult[] = [];
  for (const level of values.concurrency!.split(",")) {
    const result = await runLoad({
      url: values.url!.replace(/\/$/, ""),
      model: values.model!,
      endpoint: values.endpoint,
      concurrency: int(level, "concurrency"),
      requests: int(values.requests!, "requests"),
      warmup: values.warmup === undefined ? undefined : Number(values.warmup),
      maxTokens: int(values["max-tokens"]!, "max-tokens"),
      progress: !values.quiet,
    });
    console.log(formatResult(result));
    results.push(result);
  }
  if (values.json !== undefined) {
    await writeFile(values.json, JSON.stringify(results, null, 2) + "\n");
  }
  return results;
}

if (import.meta.main) {
  try {
    await loadMain(process.argv.slice(2));
  } catch (error) {
    console.error(`load: ${(error as Error).message}`);
    process.exit(2);
  }
}
