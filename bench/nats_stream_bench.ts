/**
 * Token streaming over the NATS request plane (sample engine, zero delay,
 * worker and caller on separate connections) versus the raw messages/s of the
 * same NATS client publishing same-size messages to a subscriber, same run.
 * Goal: streamed chunks/s ≥ 50% of raw messages/s.
 *
 *   deno run -A bench/nats_stream_bench.ts [--tokens 2000] [--streams 1,16] [--transport tcp|ws]
 *   bun bench/nats_stream_bench.ts
 */
import { parseArgs } from "node:util";
import { jsonCodec } from "../src/wire/wire_codec.ts";
import { runtimeLabel } from "./bench_util.ts";
import { startNatsBench } from "./nats_bench_util.ts";

const { values } = parseArgs({
  options: {
    tokens: { type: "string" },
    streams: { type: "string" },
    transport: { type: "string" },
    rounds: { type: "string" },
  },
});
const TOKENS = Number(values.tokens ?? 2000);
const STREAMS = (values.streams ?? "1,16").split(",").map(Number);
const ROUNDS = Number(values.rounds ?? 5);
const transport = values.transport === "ws" ? "ws" : "tcp";

const bench = await startNatsBench(transport);
// The size of one streamed chunk message as it crosses the wire.
const sample = jsonCodec.encode({
  t: "chunk",
  seq: 1234,
  chunks: [{ token_ids: [1234], index: 0 }],
});

/** Streams `streams` concurrent requests of TOKENS tokens; returns chunks/s. */
async function streamed(streams: number): Promise<number> {
  const payload = {
    token_ids: [1, 2, 3, 4],
    model: "sample-model",
    stop_conditions: { max_tokens: TOKENS },
  };
  const started = performance.now();
  const counts = await Promise.all(Array.from({ length: streams }, async () => {
    let n = 0;
    for await (const chunk of await bench.client.call(bench.address, payload)) {
      n += chunk.token_ids.length;
    }
    return n;
  }));
  const seconds = (performance.now() - started) / 1000;
  for (const n of counts) if (n !== TOKENS) throw new Error(`stream gave ${n} tokens`);
  return (streams * TOKENS) / seconds;
}

/**
 * Publishes `total` messages of the chunk size from A to a subscriber on B; returns msgs/s.
 * `yieldEvery`: 0 = one tight loop (the client buffers everything), else a macrotask
 * yield every that many messages.
 */
async function raw(total: number, yieldEvery: number): Promise<number> {
  const subject = `bench.raw.${crypto.randomUUID()}`;
  let received = 0;
  const { promise, resolve } = Promise.withResolvers<void>();
  const sub = bench.rawB.subscribe(subject, {
    callback: () => {
      if (++received === total) resolve();
    },
  });
  await bench.rawB.flush();
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    bench.rawA.publish(subject, sample);
    if (yieldEvery > 0 && i % yieldEvery === yieldEvery - 1) {
      await new Promise((r) => setTimeout(r, 0));
    }
  }
  await promise;
  const seconds = (performance.now() - started) / 1000;
  sub.unsubscribe();
  return total / seconds;
}

console.error(`# ${runtimeLabel()}, NATS over ${transport}, ${sample.byteLength}-byte messages`);
const rows = [];
for (const streams of STREAMS) {
  // Warm-up (JIT) of both paths.
  for (let i = 0; i < Math.ceil(20 / streams); i++) await streamed(streams);
  for (const every of [0, 1024, 64]) await raw(streams * TOKENS, every);
  const s: number[] = [];
  const r: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // The baseline is the best of a tight loop and of batches of 1024 and 64 between yields.
    for (const every of [0, 1024, 64]) r.push(await raw(streams * TOKENS, every));
    s.push(await streamed(streams));
  }
  const best = (xs: number[]) => Math.max(...xs);
  const row = {
    streams,
    tokens_per_stream: TOKENS,
    raw_msgs_per_s: Math.round(best(r)),
    streamed_chunks_per_s: Math.round(best(s)),
    ratio: +(best(s) / best(r)).toFixed(3),
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
await bench.close();
console.log(
  `| runtime | transport | streams | raw msgs/s | streamed chunks/s | ratio (goal ≥ 0.5) |\n|---|---|---|---|---|---|\n` +
    rows.map((x) =>
      `| ${runtimeLabel()} | ${transport} | ${x.streams} | ${x.raw_msgs_per_s} | ${x.streamed_chunks_per_s} | ${x.ratio} |`
    ).join("\n"),
);
