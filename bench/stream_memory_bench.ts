/**
 * Leak check under load: 10,000 sequential requests through a worker (a mix of
 * completed, stopped, killed-by-caller-signal and dropped streams) must leave
 * heap and open handles where they started (±10%).
 *
 *   deno run -A --v8-flags=--expose-gc bench/stream_memory_bench.ts
 *   bun bench/stream_memory_bench.ts
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { SampleEngine } from "../engines/sample/mod.ts";
import { collectGarbage, runtimeLabel, startBenchWorker, writeJson } from "./bench_util.ts";

const { values } = parseArgs({
  options: { json: { type: "string" }, requests: { type: "string" } },
});
const REQUESTS = Number(values.requests ?? 10_000);

const bench = await startBenchWorker(new SampleEngine({ delayMs: 0 }));
const { worker, plane } = bench;
const record = { transport: bench.address };
const payload = {
  token_ids: [1, 2, 3],
  model: "sample-model",
  stop_conditions: { max_tokens: 16 },
};

async function one(i: number): Promise<void> {
  const caller = new AbortController();
  const stream = await plane.call(record.transport, payload, { signal: caller.signal });
  let n = 0;
  for await (const _ of stream) {
    n++;
    if (n === 4) {
      if (i % 4 === 1) stream.stop();
      else if (i % 4 === 2) caller.abort();
      else if (i % 4 === 3) break;
    }
  }
}

async function batch(count: number, label: string): Promise<void> {
  const step = Math.max(1, Math.floor(count / 10));
  for (let i = 0; i < count; i++) {
    await one(i);
    if ((i + 1) % step === 0) console.error(`  ${label}: ${i + 1}/${count}`);
  }
  while (worker.inflight > 0) await new Promise((resolve) => setTimeout(resolve, 1));
}

async function snapshot() {
  for (let i = 0; i < 3; i++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    heapUsed: process.memoryUsage().heapUsed,
    handles: process.getActiveResourcesInfo?.().length ?? -1,
  };
}

if (typeof (globalThis as { gc?: unknown }).gc !== "function" && !("Bun" in globalThis)) {
  console.error("warning: no GC hook; run Deno with --v8-flags=--expose-gc for stable numbers");
}
await batch(1000, "warm-up");
const before = await snapshot();
await batch(REQUESTS, "requests");
const after = await snapshot();
await bench.close();

const heapRatio = after.heapUsed / before.heapUsed;
const result = {
  bench: "stream_memory",
  runtime: runtimeLabel(),
  requests: REQUESTS,
  heap_before_bytes: before.heapUsed,
  heap_after_bytes: after.heapUsed,
  heap_ratio: heapRatio,
  handles_before: before.handles,
  handles_after: after.handles,
  within_10_percent: Math.abs(heapRatio - 1) <= 0.1 && after.handles <= before.handles,
};
console.log(JSON.stringify(result, null, 2));
if (values.json) await writeJson(values.json, result);
