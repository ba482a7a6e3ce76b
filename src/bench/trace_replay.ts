/**
 * Replays a workload trace against an OpenAI-compatible server: each entry is sent at its
 * timestamp (scaled by `timeScale`) as a streaming `/v1/completions` request with the
 * entry's prompt token ids, whatever happens to earlier requests (open loop, as real
 * traffic). Reports TTFT and latency distributions, throughput and the server-reported
 * prefix-cache hit rate (`cached_tokens` / prompt tokens).
 *
 * @module
 */
import { type Distribution, distribution } from "./load_statistics.ts";
import { streamOne, type StreamSample } from "./load_generator.ts";
import { type TraceEntry, traceTokens } from "./workload_trace.ts";

/** Options for {@linkcode replayTrace}. */
export interface ReplayOptions {
  url: string;
  model: string;
  trace: readonly TraceEntry[];
  /** Multiplies every timestamp (0.5 = twice as fast); default 1. */
  timeScale?: number;
  fetch?: typeof fetch;
  /** Receives a progress line now and then. */
  progress?: (line: string) => void;
  signal?: AbortSignal;
}

/** What {@linkcode replayTrace} reports. */
export interface ReplayResult {
  requests: number;
  completed: number;
  errors: number;
  errorSamples: string[];
  durationSeconds: number;
  requestsPerSecond: number;
  outputTokensPerSecond: number;
  ttftMs: Distribution;
  latencyMs: Distribution;
  /** Cached prompt tokens / prompt tokens, over completed requests. */
  cacheHitRate: number;
}

/** Replays `trace`; resolves when every request has finished or failed. */
export async function replayTrace(options: ReplayOptions): Promise<ReplayResult> {
  const scale = options.timeScale ?? 1;
  const fetchFn = options.fetch ?? fetch;
  const url = `${options.url.replace(/\/$/, "")}/v1/completions`;
  const samples: StreamSample[] = [];
  const errors: string[] = [];
  const start = performance.now();
  const sends: Promise<void>[] = [];
  for (const entry of options.trace) {
    if (options.signal?.aborted) break;
    const due = start + entry.timestamp * scale;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const body = {
      model: options.model,
      prompt: traceTokens(entry),
      max_tokens: entry.output_length,
      stream: true,
      stream_options: { include_usage: true },
    };
    sends.push(
      streamOne(fetchFn, url, body, options.signal).then(
        (s) => void samples.push(s),
        (e) => void errors.push((e as Error).message),
      ),
    );
    if (sends.length % 50 === 0) {
      options.progress?.(`sent ${sends.length}/${options.trace.length}, done ${samples.length}`);
    }
  }
  await Promise.all(sends);
  const durationSeconds = (performance.now() - start) / 1000;
  let cached = 0;
  let prompt = 0;
  let tokens = 0;
  for (const s of samples) {
    cached += s.cachedTokens;
    prompt += Math.max(0, s.promptTokens);
    tokens += s.tokens;
  }
  return {
    requests: options.trace.length,
    completed: samples.length,
    errors: errors.length,
    errorSamples: [...new Set(errors)].slice(0, 5),
    durationSeconds,
    requestsPerSecond: samples.length / durationSeconds,
    outputTokensPerSecond: tokens / durationSeconds,
    ttftMs: distribution(samples.map((s) => s.ttftMs)),
    latencyMs: distribution(samples.map((s) => s.latencyMs)),
    cacheHitRate: prompt > 0 ? cached / prompt : 0,
  };
}

/** A human-readable summary of a replay. */
export function formatReplay(label: string, r: ReplayResult): string {
  const f = (d: Distribution) =>
    `avg ${d.avg.toFixed(1)}  p50 ${d.p50.toFixed(1)}  p90 ${d.p90.toFixed(1)}  p99 ${
      d.p99.toFixed(1)
    }`;
  return [
    `${label}: ${r.completed}/${r.requests} ok, ${r.errors} errors in ${
      r.durationSeconds.toFixed(2)
    } s`,
    `  requests/s ${r.requestsPerSecond.toFixed(2)}   output tokens/s ${
      r.outputTokensPerSecond.toFixed(0)
    }   cache hit rate ${(r.cacheHitRate * 100).toFixed(1)}%`,
    `  TTFT (ms)     ${f(r.ttftMs)}`,
    `  latency (ms)  ${f(r.latencyMs)}`,
    ...r.errorSamples.map((e) => `  error: ${e}`),
  ].join("\n");
}
