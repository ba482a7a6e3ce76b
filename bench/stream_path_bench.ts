/**
 * Per-chunk cost of the runtime's stream path (request validation, context,
 * guard + accounting, metrics, in-process request plane) versus a bare
 * `ReadableStream.from(engine.generate())` consumed in the same run.
 * Sample engine, zero delay, 256 tokens per stream, 1 and 256 concurrent streams.
 *
 *   deno run -A bench/stream_path_bench.ts [--json out.json]
 *   bun bench/stream_path_bench.ts
 */
import { measure } from "mitata";
import { parseArgs } from "node:util";
import { createRequestContext, parseGenerateRequest } from "../src/entries/testing.ts";
import { SampleEngine } from "../engines/sample/mod.ts";
import { runtimeLabel, startBenchWorker, writeJson } from "./bench_util.ts";

const { values } = parseArgs({ options: { json: { type: "string" }, tokens: { type: "string" } } });
const TOKENS = Number(values.tokens ?? 256);
const payload = {
  token_ids: [1, 2, 3, 4],
  model: "sample-model",
  stop_conditions: { max_tokens: TOKENS },
};

const engine = new SampleEngine({ delayMs: 0 });
const bench = await startBenchWorker(engine);
const { plane } = bench;
const record = { transport: bench.address };

async function bare(): Promise<number> {
  const request = parseGenerateRequest(payload);
  let n = 0;
  for await (
    const chunk of ReadableStream.from(engine.generate(request, createRequestContext().context))
  ) {
    n += chunk.token_ids.length;
  }
  return n;
}

async function runtime(): Promise<number> {
  let n = 0;
  for await (const chunk of await plane.call(record.transport, payload)) {
    n += chunk.token_ids.length;
  }
  return n;
}

async function concurrent(fn: () => Promise<number>, c: number): Promise<void> {
  const counts = await Promise.all(Array.from({ length: c }, fn));
  for (const n of counts) {
    if (n !== TOKENS) throw new Error(`stream yielded ${n} tokens, expected ${TOKENS}`);
  }
}

const rows = [];
for (const c of [1, 256]) {
  console.error(`measuring ${c} concurrent stream(s) of ${TOKENS} chunks: bare pipe ...`);
  const b = await measure(() => concurrent(bare, c), { min_cpu_time: 1e9 });
  console.error(`measuring ${c} concurrent stream(s) of ${TOKENS} chunks: runtime path ...`);
  const r = await measure(() => concurrent(runtime, c), { min_cpu_time: 1e9 });
  const chunks = c * TOKENS;
  const row = {
    concurrency: c,
    bare_ns_per_chunk: b.p50 / chunks,
    runtime_ns_per_chunk: r.p50 / chunks,
    ratio: r.p50 / b.p50,
  };
  rows.push(row);
  console.error(
    `  c=${c}: bare ${row.bare_ns_per_chunk.toFixed(0)} ns/chunk, runtime ${
      row.runtime_ns_per_chunk.toFixed(0)
    } ns/chunk, ratio ${row.ratio.toFixed(2)}x (goal <= 2x)`,
  );
}
await bench.close();

const result = { bench: "stream_path", runtime: runtimeLabel(), tokens_per_stream: TOKENS, rows };
console.log(JSON.stringify(result, null, 2));
if (values.json) await writeJson(values.json, result);
