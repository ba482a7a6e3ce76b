/**
 * The llama engine's KV events (cpu backend): stored events carry Dynamo's shared chained
 * block hash of exactly the blocks the prefix cache registers, removed events follow
 * evictions, event ids are sequential, and the snapshot provider lists what the events
 * describe — as tests/mocker checks the mocker's; load metrics go out while running and idle.
 */
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import { LlamaEngine } from "../../engines/llama/mod.ts";
import { parseGenerateRequest } from "../../src/engine/generate_request.ts";
import { createRequestContext } from "../../src/engine/request_context.ts";
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
import type { EngineServices } from "../../src/engine/engine_services.ts";
import { createEngineServices } from "../../src/kv/kv_publisher.ts";
import type { KvEvent } from "../../src/kv/kv_event.ts";
import { BlockHasher } from "../../src/kv/block_hash.ts";
import { fixtureRoot, safetensorsModel } from "./_fixture_dir.ts";

let root: Awaited<ReturnType<typeof fixtureRoot>>;
let model: string;
before(async () => {
  root = await fixtureRoot();
  model = await safetensorsModel(root.path, "kv-events");
});
after(() => root.dispose());

async function generate(engine: LlamaEngine, prompt: number[], maxTokens: number) {
  const request = parseGenerateRequest({
    model: "m",
    token_ids: prompt,
    stop_conditions: { max_tokens: maxTokens, ignore_eos: true },
    sampling_options: { temperature: 0 },
  });
  const chunks: GenerateChunk[] = [];
  for await (const c of engine.generate(request, createRequestContext().context)) chunks.push(c);
  return {
    tokens: chunks.flatMap((c) => c.token_ids),
    cached: chunks.at(-1)!.completion_usage?.prompt_tokens_details?.cached_tokens ?? 0,
  };
}

/** The hashes the events published so far describe (stored minus removed). */
function view(events: readonly KvEvent[]): Set<string> {
  const out = new Set<string>();
  for (const e of events) {
    if (e.data.type === "stored") {
      for (const b of e.data.blocks) {
        assert.ok(!out.has(b.block_hash), "a block is reported stored twice");
        out.add(b.block_hash);
      }
    }
    if (e.data.type === "removed") {
      for (const h of e.data.block_hashes) {
        assert.ok(out.delete(h), "a block never stored is reported removed");
      }
    }
  }
  return out;
}

it("publishes stored and removed KV events with the shared block hash, and a snapshot", async () => {
  const events: KvEvent[] = [];
  const handle = createEngineServices({ workerId: "5", onEvent: (e) => events.push(e) });
  let snapshot: (() => readonly string[]) | undefined;
  const loads: Parameters<EngineServices["publishLoadMetrics"]>[0][] = [];
  const services: EngineServices = {
    ...handle.services,
    publishLoadMetrics: (m) => loads.push(m),
    kv: {
      ...handle.services.kv,
      setSnapshotProvider(fn) {
        snapshot = fn;
        handle.services.kv.setSnapshotProvider(fn);
      },
    },
  };
  // 12 blocks of 4: two 27-token sequences do not fit cached together, so the second evicts.
  const engine = new LlamaEngine({ model, log: () => {}, blockSize: 4, numBlocks: 12 });
  await engine.start("5", services);
  try {
    const hasher = await BlockHasher.create();
    const prompt = Array.from({ length: 22 }, (_, i) => 10 + i);
    const first = await generate(engine, prompt, 5);
    // 22 prompt + 5 generated tokens: the KV of 26 is computed, 6 full blocks.
    const all = [...prompt, ...first.tokens];
    const want = hasher.sequenceHashes(all.slice(0, 24), 4);
    assert.deepEqual([...view(events)].sort(), [...want].sort());
    const stored = events.flatMap((e) => e.data.type === "stored" ? [e.data] : []);
    assert.equal(stored[0].parent_hash, null);
    stored.slice(1).forEach((d, i) => assert.equal(d.parent_hash, want[i]), "chained parents");
    assert.deepEqual(
      stored.map((d) => d.blocks[0].tokens_hash),
      want.map((_, b) => hasher.tokensHash(all, 4 * b, 4 * b + 4)),
    );
    assert.deepEqual([...snapshot!()].sort(), [...want].sort());

    // The same prompt again: served from the cache, nothing new stored for the prompt.
    const again = await generate(engine, prompt, 5);
    assert.equal(again.cached, 20);
    assert.deepEqual(again.tokens, first.tokens);

    // Another prompt needs blocks back: evictions are reported removed.
    const other = Array.from({ length: 30 }, (_, i) => 200 + i);
    await generate(engine, other, 5);
    assert.ok(events.some((e) => e.data.type === "removed"), "an eviction was reported");
    const now = view(events);
    assert.deepEqual([...now].sort(), [...snapshot!()].sort());
    assert.deepEqual([...now].sort(), engine.cachedHashes().sort());
    const otherHashes = hasher.sequenceHashes(other, 4);
    assert.ok(otherHashes.every((h) => now.has(h)), "the new prompt's full blocks are cached");
    assert.deepEqual(events.map((e) => e.event_id), events.map((_, i) => i + 1));
    // Load metrics: published while running, and once idle with nothing in flight.
    assert.ok(loads.length >= 3, `${loads.length} load publications`);
    assert.ok(loads.some((m) => m.inflight_requests > 0 && m.kv_used_blocks > 0));
    assert.deepEqual(loads.at(-1), {
      kv_used_blocks: 0,
      kv_total_blocks: 12,
      inflight_requests: 0,
      waiting_requests: 0,
    });
  } finally {
    await engine.cleanup();
    await handle.close();
  }
});

it("without services the engine publishes nothing and serves the same tokens", async () => {
  const engine = new LlamaEngine({ model, log: () => {}, blockSize: 4 });
  await engine.start("1");
  try {
    const out = await generate(engine, [1, 2, 3, 4, 5, 6, 7, 8, 9], 3);
    assert.equal(out.tokens.length, 3);
    assert.deepEqual(engine.cachedHashes(), []);
  } finally {
    await engine.cleanup();
  }
});
