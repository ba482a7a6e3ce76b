/**
 * A load generator for OpenAI-compatible streaming endpoints (`sluice bench`,
 * `bench/load.ts`). Pure: the HTTP client (`fetch`) and the progress display are
 * injected, and the results are returned, not printed.
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
 * @module
 */
import { type Distribution, distribution } from "./load_statistics.ts";

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
  /** The HTTP client (default the global `fetch`). */
  fetch?: typeof fetch;
  /**
   * Receives a progress line (no line break) every `progressIntervalMs` during the measured
   * run and once at its end; none when absent.
   */
  progress?: (line: string) => void;
  /** Progress period in ms (default 500). */
  progressIntervalMs?: number;
  /** Label at the start of the progress line. */
  label?: string;
  /** Stops sending requests and aborts those in flight (they count as errors). */
  signal?: AbortSignal;
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

/** One request's measurements. */
export interface RequestSample {
  ttftMs: number;
  latencyMs: number;
  tokens: number;
}

const decoder = new TextDecoder();

/** Parses frames as they arrive and measures one stream. */
class StreamMeter {
  ttft = -1;
  contentChunks = 0;
  usageTokens = -1;
  /** `usage.prompt_tokens_details.cached_tokens` of the usage frame (0 when absent). */
  cachedTokens = 0;
  /** `usage.prompt_tokens` of the usage frame (-1 when absent). */
  promptTokens = -1;
  done = false;
  #buffer = "";
  #start: number;

  constructor(start: number) {
    this.#start = start;
  }

  /**
   * Adds bytes. Frames are parsed as JSON only until the first content arrives (for TTFT)
   * and when they look like a usage or error frame; the rest are counted by scanning, so
   * the generator spends its time waiting on the server rather than parsing.
   * @throws {Error} on an `{"error": …}` frame or a frame that is not JSON.
   */
  push(bytes: Uint8Array): void {
    const buffer = this.#buffer + decoder.decode(bytes, { stream: true });
    let at = 0;
    let cut: number;
    try {
      while ((cut = buffer.indexOf("\n\n", at)) !== -1) {
        const frameStart = at;
        at = cut + 2;
        if (!buffer.startsWith("data: ", frameStart)) continue;
        this.#frame(buffer.slice(frameStart + 6, cut));
      }
    } finally {
      this.#buffer = buffer.slice(at);
    }
  }

  #frame(data: string): void {
    if (data === "[DONE]") {
      this.done = true;
      return;
    }
    const special = data.startsWith('{"error"') || data.includes('"usage":{');
    if (this.ttft >= 0 && !special) {
      this.contentChunks++;
      return;
    }
    const chunk = JSON.parse(data);
    if (chunk.error) throw new Error(`stream error: ${JSON.stringify(chunk.error)}`);
    if (chunk.usage) {
      this.usageTokens = chunk.usage.completion_tokens;
      this.promptTokens = chunk.usage.prompt_tokens ?? -1;
      this.cachedTokens = chunk.usage.prompt_tokens_details?.cached_tokens ?? 0;
    }
    const choice = chunk.choices?.[0];
    const content = choice?.delta?.content ?? choice?.text;
    if (typeof content === "string" && content.length > 0) {
      this.contentChunks++;
      if (this.ttft < 0) this.ttft = performance.now() - this.#start;
    }
  }
}

/**
 * Sends one streaming request and measures it. Throws on HTTP or stream errors; the
 * response body is cancelled on every error path, so a failed stream never stays open.
 */
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
  return await streamOne(options.fetch ?? fetch, options.url + path, body, options.signal);
}

/** One measured streaming request (what the trace replay also sends). */
export interface StreamSample extends RequestSample {
  /** Prompt tokens the server reports served from its prefix cache (0 when it reports none). */
  cachedTokens: number;
  /** Prompt tokens the server reports (-1 when absent). */
  promptTokens: number;
}

/**
 * POSTs `body` (a streaming OpenAI request with `include_usage`) to `url` and measures the
 * stream. Throws on HTTP or stream errors; the body is cancelled on every error path.
 */
export async function streamOne(
  fetchFn: typeof fetch,
  url: string,
  body: unknown,
  signal?: AbortSignal,
): Promise<StreamSample> {
  const start = performance.now();
  const response = await fetchFn(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok || response.body === null) {
    throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
  }
  const meter = new StreamMeter(start);
  const reader = response.body.getReader();
  let ended = false;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      meter.push(value);
    }
    ended = true;
  } finally {
    if (!ended) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  const latency = performance.now() - start;
  if (!meter.done) throw new Error("stream ended without [DONE]");
  if (meter.ttft < 0) throw new Error("no content received");
  return {
    ttftMs: meter.ttft,
    latencyMs: latency,
    tokens: meter.usageTokens >= 0 ? meter.usageTokens : meter.contentChunks,
    cachedTokens: meter.cachedTokens,
    promptTokens: meter.promptTokens,
  };
}

/**
 * Runs the load: a warm-up, then `requests` requests with `concurrency` in flight.
 *
 * @example
 * ```ts ignore
 * const result = await runLoad({ url: "http://127.0.0.1:8000", model: "sample-model", concurrency: 8, requests: 100 });
 * console.log(formatResult(result));
 * ```
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const warmup = options.warmup ?? options.concurrency;
  const run = async (total: number, offset: number, samples: RequestSample[], errors: string[]) => {
    let next = 0;
    const workers = Array.from({ length: Math.min(options.concurrency, total) }, async () => {
      while (next < total && !options.signal?.aborted) {
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
  const report = () => {
    const seconds = (performance.now() - start) / 1000;
    options.progress?.(
      `${options.label ?? ""} c=${options.concurrency}: ${samples.length}/${options.requests} ` +
        `done, ${errors.length} errors, ${(samples.length / seconds).toFixed(0)} req/s`,
    );
  };
  const timer = options.progress === undefined
    ? undefined
    : setInterval(report, options.progressIntervalMs ?? 500);
  try {
    await run(options.requests, warmup, samples, errors);
  } finally {
    clearInterval(timer);
  }
  if (options.progress !== undefined) report();
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
