import { test } from "node:test";
import assert from "node:assert/strict";
import { BlockHasher } from "../../src/kv/block_hash.ts";
import { KvIndexer } from "../../src/kv/kv_indexer.ts";
import { KvRoutingPolicy } from "../../src/router/kv_policy.ts";
import type { RouteRequest } from "../../src/router/routing_policy.ts";
import { rng } from "./_random.ts";

const BS = 4;
const workers = ["1", "2", "3", "4"].map((instanceId) => ({
  instanceId,
  inflight: 0,
  card: { kv_cache_block_size: BS },
}));

function storeOn(
  indexer: KvIndexer,
  hasher: BlockHasher,
  worker: string,
  tokens: number[],
  id = 1,
) {
  const blocks = hasher.blockHashes(tokens, BS);
  indexer.applyEvent({
    event_id: id,
    worker_id: worker,
    dp_rank: 0,
    data: { type: "stored", parent_hash: null, blocks },
  });
}

test("kv routing sends a repeated prefix to the worker that holds it", async () => {
  const hasher = await BlockHasher.create();
  const indexer = new KvIndexer();
  const policy = new KvRoutingPolicy({ indexer, hasher, random: rng(1) });
  const prefix = Array.from({ length: 32 }, (_, i) => 100 + i);
  storeOn(indexer, hasher, "3", prefix);
  storeOn(indexer, hasher, "1", [9, 9, 9, 9, 9, 9, 9, 9]);
  for (let i = 0; i < 20; i++) {
    const request: RouteRequest = { model: "m", tokenIds: [...prefix, 1000 + i, 7, 7] };
    const chosen = policy.select(workers, request)!;
    assert.equal(chosen.instanceId, "3");
    assert.equal(policy.lastDecision?.overlapBlocks, 8);
    assert.equal(policy.lastDecision?.promptBlocks, 9);
  }
  // A different prefix has no holder: load decides, not the cached worker.
  const other = policy.select(workers, { model: "m", tokenIds: [1, 2, 3, 4, 5] })!;
  assert.equal(policy.lastDecision?.overlapBlocks, 0);
  assert.ok(other !== undefined);
});

test("kv routing spreads load when every worker is equal, and active blocks weigh in", async () => {
  const hasher = await BlockHasher.create();
  const indexer = new KvIndexer();
  for (const w of workers) storeOn(indexer, hasher, w.instanceId, [w.instanceId.charCodeAt(0)]); // known, nothing useful cached
  const policy = new KvRoutingPolicy({ indexer, hasher, random: rng(2) });
  const routed: [typeof workers[number], RouteRequest][] = [];
  const counts = new Map<string, number>();
  // Held in flight: each routed request adds its blocks, so the next goes elsewhere.
  for (let i = 0; i < 8; i++) {
    const request: RouteRequest = {
      model: "m",
      tokenIds: Array.from({ length: 16 }, (_, j) => i * 100 + j),
    };
    const chosen = policy.select(workers, request)!;
    policy.routed(chosen, request);
    routed.push([chosen, request]);
    counts.set(chosen.instanceId, (counts.get(chosen.instanceId) ?? 0) + 1);
  }
  assert.deepEqual([...counts.values()], [2, 2, 2, 2]);
  assert.equal(policy.activeBlocks("1"), 8);
  // Released requests give their blocks back.
  for (const [worker, request] of routed) policy.released(worker, request);
  for (const w of workers) assert.equal(policy.activeBlocks(w.instanceId), 0);
  // Without holding, ties are broken at random: every worker gets a fair share.
  const fair = new Map<string, number>();
  const idle = new KvRoutingPolicy({ indexer, hasher, random: rng(3) });
  for (let i = 0; i < 400; i++) {
    const chosen = idle.select(workers, { model: "m", tokenIds: [i, i, i, i, i] })!;
    fair.set(chosen.instanceId, (fair.get(chosen.instanceId) ?? 0) + 1);
  }
  for (const w of workers) {
    assert.ok(
      (fair.get(w.instanceId) ?? 0) > 60,
      `worker ${w.instanceId}: ${fair.get(w.instanceId)}`,
    );
  }
});

test("routed and released pair up; the overlap weight and temperature shape the choice", async () => {
  const hasher = await BlockHasher.create();
  const indexer = new KvIndexer();
  const prefix = Array.from({ length: 16 }, (_, i) => i + 1);
  storeOn(indexer, hasher, "1", prefix);
  storeOn(indexer, hasher, "2", [77]);
  const two = workers.slice(0, 2);
  const policy = new KvRoutingPolicy({ indexer, hasher, random: rng(4) });
  const big: RouteRequest = { model: "m", tokenIds: Array.from({ length: 40 }, (_, i) => 500 + i) };
  policy.routed(two[0], big); // 10 active blocks on worker 1
  assert.equal(policy.activeBlocks("1"), 10);
  // Worker 1 caches 4 of 5 blocks (cost 1 + 10) vs worker 2 (cost 5 + 0): worker 2 wins.
  assert.equal(
    policy.select(two, { model: "m", tokenIds: [...prefix, 1, 2, 3, 4] })!.instanceId,
    "2",
  );
  // Weighting prefill more makes the cached worker win: 3·1 + 10 < 3·5.
  const weighted = new KvRoutingPolicy({ indexer, hasher, overlapScoreWeight: 3 });
  weighted.routed(two[0], big);
  assert.equal(
    weighted.select(two, { model: "m", tokenIds: [...prefix, 1, 2, 3, 4] })!.instanceId,
    "1",
  );
  policy.released(two[0], big);
  policy.released(two[0], big); // a second release of the same request changes nothing
  assert.equal(policy.activeBlocks("1"), 0);
  // A high temperature samples the costlier worker sometimes; zero never does.
  const hot = new KvRoutingPolicy({ indexer, hasher, temperature: 10, random: rng(5) });
  const picks = new Set<string>();
  for (let i = 0; i < 100; i++) {
    picks.add(hot.select(two, { model: "m", tokenIds: [...prefix, 1, 2, 3, 4] })!.instanceId);
  }
  assert.deepEqual([...picks].sort(), ["1", "2"]);
  const cold = new KvRoutingPolicy({ indexer, hasher, random: rng(6) });
  for (let i = 0; i < 50; i++) {
    assert.equal(
      cold.select(two, { model: "m", tokenIds: [...prefix, 1, 2, 3, 4] })!.instanceId,
      "1",
    );
  }
});

test("workers without KV events fall back to least-loaded", async () => {
  const hasher = await BlockHasher.create();
  const policy = new KvRoutingPolicy({ indexer: new KvIndexer(), hasher });
  const loaded = [
    { instanceId: "1", inflight: 5, card: { kv_cache_block_size: BS } },
    { instanceId: "2", inflight: 1, card: {} },
    { instanceId: "3", inflight: 3, card: { kv_cache_block_size: BS } },
  ];
  for (let i = 0; i < 5; i++) {
    assert.equal(policy.select(loaded, { model: "m", tokenIds: [1, 2, 3, 4, 5] })!.instanceId, "2");
  }
  assert.equal(policy.lastDecision, undefined);
});

test("in a mixed fleet, workers without KV events are costed by their load", async () => {
  const hasher = await BlockHasher.create();
  const indexer = new KvIndexer();
  storeOn(indexer, hasher, "1", [42, 42, 42, 42]);
  const policy = new KvRoutingPolicy({ indexer, hasher, random: rng(7) });
  const mixed = [
    { instanceId: "1", inflight: 0, card: { kv_cache_block_size: BS } },
    { instanceId: "2", inflight: 0, card: {} }, // publishes no KV events
  ];
  const counts = new Map<string, number>();
  for (let i = 0; i < 8; i++) {
    const request: RouteRequest = {
      model: "m",
      tokenIds: Array.from({ length: 16 }, (_, j) => 1000 * i + j),
    };
    const chosen = policy.select(mixed, request)!;
    policy.routed(chosen, request);
    counts.set(chosen.instanceId, (counts.get(chosen.instanceId) ?? 0) + 1);
  }
  assert.deepEqual([counts.get("1"), counts.get("2")], [4, 4], "held requests spread over both");
  assert.equal(policy.activeBlocks("2"), 16);
});
