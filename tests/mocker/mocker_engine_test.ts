import { test } from "node:test";
import assert from "node:assert/strict";
import { runConformance } from "../../src/conformance/mod.ts";
import { MOCKER_DEFAULTS, MockerEngine, parseMockerArgs } from "../../engines/mocker/mod.ts";
import { createRequestContext } from "../../src/engine/request_context.ts";
import { parseGenerateRequest } from "../../src/engine/generate_request.ts";
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
import { createEngineServices } from "../../src/kv/kv_publisher.ts";
import type { KvEvent } from "../../src/kv/kv_event.ts";
import { isSluiceError } from "../../src/errors/sluice_error.ts";
import { currentRuntime } from "../../src/runtime/runtime.ts";
import { InProcessEventPlane } from "../../src/event_plane/in_process_event_plane.ts";
import type { LoadMetrics } from "../../src/kv/kv_event.ts";

const request = (tokens: number[], maxTokens: number) =>
  parseGenerateRequest({
    token_ids: tokens,
    model: "m",
    stop_conditions: { max_tokens: maxTokens },
  });

async function collect(stream: AsyncIterable<GenerateChunk>): Promise<GenerateChunk[]> {
  const out: GenerateChunk[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

test("the mocker passes the conformance kit, with and without simulated time", async () => {
  const fast = await runConformance(MockerEngine, { argv: ["--speedup-ratio", "0"] });
  assert.equal(fast.model, "mocker-model");
  assert.equal(fast.checks.length, 8);
  const timed = await runConformance(MockerEngine, { argv: ["--speedup-ratio", "10"] });
  assert.equal(timed.checks.length, 8);
});

test("flags: Dynamo's names, §8 defaults, and errors that name the flag", async () => {
  assert.deepEqual(parseMockerArgs([]).options, MOCKER_DEFAULTS);
  assert.equal(MOCKER_DEFAULTS.blockSize, 64);
  assert.equal(MOCKER_DEFAULTS.numGpuBlocks, 16384);
  assert.equal(MOCKER_DEFAULTS.maxNumSeqs, 256);
  assert.equal(MOCKER_DEFAULTS.maxNumBatchedTokens, 8192);
  assert.equal(MOCKER_DEFAULTS.speedupRatio, 1.0);
  assert.ok(MOCKER_DEFAULTS.enablePrefixCaching && MOCKER_DEFAULTS.enableChunkedPrefill);
  const { options } = parseMockerArgs([
    "--speedup-ratio",
    "2.5",
    "--block-size",
    "16",
    "--num-gpu-blocks-override",
    "100",
    "--max-num-seqs",
    "4",
    "--max-num-batched-tokens",
    "512",
    "--no-enable-prefix-caching",
    "--no-enable-chunked-prefill",
    "--watermark",
    "0.05",
    "--startup-time",
    "0.01",
  ]);
  assert.deepEqual(
    [options.speedupRatio, options.blockSize, options.numGpuBlocks, options.maxNumSeqs],
    [2.5, 16, 100, 4],
  );
  assert.equal(options.maxNumBatchedTokens, 512);
  assert.equal(options.enablePrefixCaching, false);
  assert.equal(options.enableChunkedPrefill, false);
  assert.equal(options.watermark, 0.05);
  for (
    const [argv, flag] of [
      [["--block-size", "0"], "--block-size"],
      [["--speedup-ratio", "-1"], "--speedup-ratio"],
      [["--watermark", "2"], "--watermark"],
      [["--enable-prefix-caching", "--no-enable-prefix-caching"], "--enable-prefix-caching"],
    ] as const
  ) {
    assert.throws(
      () => parseMockerArgs([...argv]),
      (e: unknown) => isSluiceError(e) && e.kind === "InvalidArgument" && e.message.includes(flag),
    );
  }
  await assert.rejects(MockerEngine.fromArgs(["--bogus"]), /bogus/);
});

test("start reports the KV layout; the context length comes from --model-path's config", async () => {
  const engine = new MockerEngine({ speedupRatio: 0 });
  const config = await engine.start("1");
  assert.deepEqual(config, {
    model: "mocker-model",
    served_model_name: "mocker-model",
    context_length: 32768,
    kv_cache_block_size: 64,
    total_kv_blocks: 16384,
    max_num_seqs: 256,
    max_num_batched_tokens: 8192,
  });
  await engine.cleanup();
  const runtime = currentRuntime();
  const path = `${await makeTempDir()}/config.json`;
  await runtime.writeTextFile(path, JSON.stringify({ max_position_embeddings: 4096 }));
  const withPath = new MockerEngine({
    speedupRatio: 0,
    modelPath: path.replace("/config.json", ""),
  });
  assert.equal((await withPath.start("2")).context_length, 4096);
  await assert.rejects(
    collect(withPath.generate(request(Array(4000).fill(1), 200), createRequestContext().context)),
    /context length/,
  );
  await withPath.cleanup();
});

async function makeTempDir(): Promise<string> {
  const { mkdtemp } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  return await mkdtemp(`${tmpdir()}/mocker-`);
}

test("prefix hits show as cached_tokens; ids are deterministic; KV events describe the cache", async () => {
  const events: KvEvent[] = [];
  const handle = createEngineServices({ workerId: "5", onEvent: (e) => events.push(e) });
  const engine = new MockerEngine({ speedupRatio: 0, blockSize: 4 });
  await engine.start("5", handle.services);
  try {
    const prompt = Array.from({ length: 22 }, (_, i) => 10 + i);
    const first = await collect(
      engine.generate(request(prompt, 5), createRequestContext().context),
    );
    const last = first.at(-1)!;
    assert.equal(last.finish_reason, "length");
    assert.deepEqual(last.completion_usage, {
      prompt_tokens: 22,
      completion_tokens: 5,
      total_tokens: 27,
    });
    const second = await collect(
      engine.generate(request(prompt, 5), createRequestContext().context),
    );
    assert.equal(second.at(-1)!.completion_usage?.prompt_tokens_details?.cached_tokens, 20);
    assert.deepEqual(second.flatMap((c) => c.token_ids), first.flatMap((c) => c.token_ids));
    // Event ids are sequential; the stored blocks are what the block manager caches.
    assert.deepEqual(events.map((e) => e.event_id), events.map((_, i) => i + 1));
    const view = new Set<string>();
    for (const e of events) {
      if (e.data.type === "stored") { for (const b of e.data.blocks) view.add(b.block_hash); }
      if (e.data.type === "removed") { for (const h of e.data.block_hashes) view.delete(h); }
    }
    assert.deepEqual([...view].sort(), engine.blockManager!.cachedHashes().sort());
    assert.equal(
      view.size,
      6,
      "22 prompt + 5 generated tokens: 6 full blocks (the last token's KV is never computed)",
    );
  } finally {
    await engine.cleanup();
    await handle.close();
  }
});

test("cancellation ends the stream with 'cancelled' and frees its blocks at once", async () => {
  const engine = new MockerEngine({ speedupRatio: 1, blockSize: 4 });
  await engine.start("1");
  try {
    const { context, cancel } = createRequestContext();
    const stream = engine.generate(
      request(Array.from({ length: 40 }, (_, i) => i), 10000),
      context,
    );
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.done, false);
    assert.ok(engine.blockManager!.usedBlocks >= 10);
    cancel("stop");
    const rest: GenerateChunk[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
    assert.equal(rest.at(-1)!.finish_reason, "cancelled");
    assert.equal(engine.blockManager!.usedBlocks, 0);
    // A silent drop (consumer stops reading) frees them too.
    const dropped = engine.generate(
      request([1, 2, 3, 4, 5, 6, 7, 8, 9], 10000),
      createRequestContext().context,
    );
    const dit = dropped[Symbol.asyncIterator]();
    await dit.next();
    assert.ok(engine.blockManager!.usedBlocks > 0);
    await dit.return!(undefined);
    assert.equal(engine.blockManager!.usedBlocks, 0);
    assert.ok(engine.scheduler!.idle);
  } finally {
    await engine.cleanup();
  }
});

test("simulated time follows the timing model and the speedup ratio", async () => {
  // One 4096-token prefill: 85.756 ms at speedup 1; at speedup 4, about 21 ms.
  const engine = new MockerEngine({ speedupRatio: 4 });
  await engine.start("1");
  try {
    const t0 = performance.now();
    const it = engine.generate(
      request(Array.from({ length: 4096 }, (_, i) => i % 1000), 1),
      createRequestContext().context,
    );
    await collect(it);
    const ms = performance.now() - t0;
    assert.ok(ms >= 85.756 / 4 - 1 && ms < 200, `took ${ms} ms`);
  } finally {
    await engine.cleanup();
  }
});

test("the mocker publishes its load metrics on the event plane", async () => {
  const plane = new InProcessEventPlane();
  const sub = plane.subscribe<LoadMetrics>("dynamo.backend.load-metrics");
  const handle = createEngineServices({ workerId: "3", eventPlane: plane });
  const engine = new MockerEngine({ speedupRatio: 0, blockSize: 4, numGpuBlocks: 50 });
  await engine.start("3", handle.services);
  try {
    await collect(
      engine.generate(request([1, 2, 3, 4, 5, 6, 7, 8, 9], 3), createRequestContext().context),
    );
    const it = sub[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.value?.worker_id, "3");
    assert.equal(first.value?.kv_total_blocks, 50);
    assert.ok(first.value!.kv_used_blocks >= 0 && first.value!.waiting_requests >= 0);
  } finally {
    await engine.cleanup();
    await handle.close();
    await plane.close();
  }
});
