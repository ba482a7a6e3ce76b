/**
 * KV-aware routing end to end: `sluice serve --engine mocker --workers 4` with a small KV
 * cache per worker, a prefix-heavy trace (shared 2k–8k-token prefixes, multi-turn, Poisson
 * arrivals) replayed open-loop over HTTP, once per router mode in the same run:
 * `kv` versus `round-robin` and `random`. Reports mean / p90 TTFT, throughput and the
 * prefix-cache hit rate the workers report. Goal: kv mean TTFT ≥ 2× lower than round-robin
 * with equal or better throughput.
 *
 * The mocker runs `--speedup-ratio S` times faster than its timing model; the trace is
 * replayed S times faster too, and times are reported in simulated milliseconds (measured
 * × S), as on the GPU the model describes.
 *
 *   deno run -A bench/kv_routing_bench.ts [--requests 240] [--rate 14] [--groups 16] [--blocks 512] [--speedup 2] [--json out.json]
 *   bun bench/kv_routing_bench.ts
 */
import { parseArgs } from "node:util";
import { MockerEngine } from "../engines/mocker/mod.ts";
import { createEmbeddedServer } from "../src/serve/embedded_server.ts";
import { createLogger } from "../src/logging/logger.ts";
import { generateWorkload } from "../src/bench/workload_trace.ts";
import { type ReplayResult, replayTrace } from "../src/bench/trace_replay.ts";
import { runtimeLabel, writeJson } from "./bench_util.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "240" },
    rate: { type: "string", default: "14" },
    groups: { type: "string", default: "16" },
    speedup: { type: "string", default: "2" },
    blocks: { type: "string", default: "512" },
    json: { type: "string" },
  },
});
const speedup = Number(values.speedup);
const trace = generateWorkload({
  requests: Number(values.requests),
  groups: Number(values.groups),
  prefixTokens: [2048, 8192],
  turns: 3,
  userTokens: [64, 512],
  outputTokens: 32,
  rate: Number(values.rate),
  seed: 11,
});
const engineArgs = [
  "--speedup-ratio",
  String(speedup),
  "--num-gpu-blocks-override",
  values.blocks!,
  "--block-size",
  "64",
];
console.error(
  `trace: ${trace.length} requests, ${values.groups} prefix groups, ${values.rate} req/s; ` +
    `4 mocker workers (${values.blocks} blocks of 64 tokens each), speedup ${speedup}`,
);

const rows: { mode: string; result: ReplayResult }[] = [];
// A short unmeasured warm-up run first (JIT, WASM instantiation), then each mode in turn.
for (const mode of ["warm-up", "kv", "round-robin", "random"]) {
  const server = await createEmbeddedServer({
    engine: MockerEngine,
    engineArgs,
    workers: 4,
    routerMode: mode === "warm-up" ? "round-robin" : mode,
    port: 0,
    hostname: "127.0.0.1",
    healthCanary: false,
    logger: createLogger({ level: "error" }),
  });
  try {
    const result = await replayTrace({
      url: server.url,
      model: "mocker-model",
      trace: mode === "warm-up" ? trace.slice(0, 40) : trace,
      timeScale: 1 / speedup,
    });
    if (mode === "warm-up") continue;
    rows.push({ mode, result });
    console.error(
      `  ${mode.padEnd(12)} TTFT mean ${(result.ttftMs.avg * speedup).toFixed(0)} ms, p90 ${
        (result.ttftMs.p90 * speedup).toFixed(0)
      } ms; ${(result.outputTokensPerSecond / speedup).toFixed(0)} output tokens/s; ` +
        `cache hit rate ${(result.cacheHitRate * 100).toFixed(1)}%; ${result.errors} errors`,
    );
  } finally {
    await server.shutdown();
  }
}
const by = (m: string) => rows.find((r) => r.mode === m)!.result;
const ratio = by("round-robin").ttftMs.avg / by("kv").ttftMs.avg;
const ratioRandom = by("random").ttftMs.avg / by("kv").ttftMs.avg;
console.error(
  `  mean TTFT: round-robin / kv = ${ratio.toFixed(2)}x, random / kv = ${
    ratioRandom.toFixed(2)
  }x (goal >= 2x)`,
);
const result = {
  bench: "kv_routing",
  runtime: runtimeLabel(),
  requests: trace.length,
  speedup,
  rows: rows.map(({ mode, result }) => ({
    mode,
    completed: result.completed,
    errors: result.errors,
    ttft_mean_ms: result.ttftMs.avg * speedup,
    ttft_p90_ms: result.ttftMs.p90 * speedup,
    latency_mean_ms: result.latencyMs.avg * speedup,
    output_tokens_per_s: result.outputTokensPerSecond / speedup,
    requests_per_s: result.requestsPerSecond / speedup,
    cache_hit_rate: result.cacheHitRate,
  })),
  ttft_ratio_round_robin_over_kv: ratio,
  ttft_ratio_random_over_kv: ratioRandom,
};
console.log(JSON.stringify(result, null, 2));
if (values.json) await writeJson(values.json, result);
