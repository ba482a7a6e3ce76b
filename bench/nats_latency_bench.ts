/**
 * First-chunk latency at concurrency 1 over the NATS request plane (sample
 * engine, zero delay, max_tokens 1: request → accept → first chunk) versus a
 * raw NATS request/reply round trip of a same-size payload between the same
 * two kinds of connection, interleaved in the same run. Goal: p50 ≤ 3× raw.
 *
 *   deno run -A bench/nats_latency_bench.ts [--samples 1000] [--transport tcp|ws]
 *   bun bench/nats_latency_bench.ts
 */
import { parseArgs } from "node:util";
import { jsonCodec } from "../src/wire/wire_codec.ts";
import { runtimeLabel } from "./bench_util.ts";
import { percentile, startNatsBench } from "./nats_bench_util.ts";

const { values } = parseArgs({
  options: { samples: { type: "string" }, transport: { type: "string" } },
});
const SAMPLES = Number(values.samples ?? 1000);
const transport = values.transport === "ws" ? "ws" : "tcp";

const bench = await startNatsBench(transport);
const payload = {
  token_ids: [1, 2, 3, 4],
  model: "sample-model",
  stop_conditions: { max_tokens: 1 },
};
const rawBody = jsonCodec.encode(payload);
const echo = bench.rawB.subscribe("bench.echo", {
  callback: (_error, msg) => {
    msg.respond(msg.data);
  },
});
await bench.rawB.flush();

async function firstChunk(): Promise<number> {
  const started = performance.now();
  const stream = await bench.client.call(bench.address, payload);
  const it = stream[Symbol.asyncIterator]();
  const first = await it.next();
  const elapsed = performance.now() - started;
  if (first.done) throw new Error("no chunk");
  for (let r = await it.next(); !r.done; r = await it.next()) { /* drain */ }
  return elapsed;
}

async function roundTrip(): Promise<number> {
  const started = performance.now();
  await bench.rawA.request("bench.echo", rawBody, { timeout: 5000 });
  return performance.now() - started;
}

for (let i = 0; i < 200; i++) {
  await firstChunk();
  await roundTrip();
}
const plane: number[] = [];
const raw: number[] = [];
for (let i = 0; i < SAMPLES; i++) {
  raw.push(await roundTrip());
  plane.push(await firstChunk());
}
echo.unsubscribe();
await bench.close();
const row = (name: string, xs: number[]) =>
  `${name} p50 ${percentile(xs, 50).toFixed(3)} ms, p90 ${percentile(xs, 90).toFixed(3)} ms, p99 ${
    percentile(xs, 99).toFixed(3)
  } ms`;
console.log(`# ${runtimeLabel()}, NATS over ${transport}, ${SAMPLES} samples each, interleaved`);
console.log(row("raw request/reply ", raw));
console.log(row("plane first chunk ", plane));
console.log(
  `p50 ratio ${(percentile(plane, 50) / percentile(raw, 50)).toFixed(2)}× (goal ≤ 3×)`,
);
