import { test } from "node:test";
import assert from "node:assert/strict";
import { startEmbeddedWorker } from "../fixtures/embedded_worker.ts";
import { InProcessEventPlane } from "../../src/event_plane/in_process_event_plane.ts";
import type { EngineServices } from "../../src/engine/engine_services.ts";
import type { LLMEngine } from "../../src/engine/engine.ts";
import type { KvEvent, KvSnapshot } from "../../src/kv/kv_event.ts";

/** An engine that keeps the services handle it was started with. */
function recordingEngine(): LLMEngine & { services?: EngineServices } {
  const engine: LLMEngine & { services?: EngineServices } = {
    start(_id, services) {
      engine.services = services;
      return Promise.resolve({ model: "m", kv_cache_block_size: 4 });
    },
    async *generate() {
      yield {
        token_ids: [],
        index: 0,
        finish_reason: "length",
        completion_usage: { prompt_tokens: 1, completion_tokens: 0, total_tokens: 1 },
      };
    },
    cleanup: () => Promise.resolve(),
  };
  return engine;
}

test("the worker hands the engine a services handle wired to its event plane", async () => {
  const eventPlane = new InProcessEventPlane();
  const events = eventPlane.subscribe<KvEvent>("ns1.comp1.kv-events");
  const engine = recordingEngine();
  await using embedded = await startEmbeddedWorker(engine, {
    eventPlane,
    config: { model_name: "m", namespace: "ns1", component: "comp1" },
  });
  const services = engine.services!;
  assert.equal(services.workerId, embedded.worker.instanceId);
  services.kv.setSnapshotProvider(() => ["00000000000000aa"]);
  services.kv.stored(null, [{ block_hash: "00000000000000aa", tokens_hash: "00000000000000aa" }]);
  const first = await events[Symbol.asyncIterator]().next();
  assert.deepEqual(first.value, {
    event_id: 1,
    worker_id: embedded.worker.instanceId,
    dp_rank: 0,
    data: {
      type: "stored",
      parent_hash: null,
      blocks: [{ block_hash: "00000000000000aa", tokens_hash: "00000000000000aa" }],
    },
  });
  // The worker answers resync queries with the engine's snapshot.
  const replies = eventPlane.subscribe<KvSnapshot>("test.reply");
  await eventPlane.publish("ns1.comp1.kv-query", {
    worker_id: embedded.worker.instanceId,
    reply_subject: "test.reply",
  });
  const snapshot = await replies[Symbol.asyncIterator]().next();
  assert.deepEqual(snapshot.value, {
    worker_id: embedded.worker.instanceId,
    last_event_id: 1,
    block_hashes: ["00000000000000aa"],
  });
  await embedded.close();
  // After cleanup the handle publishes nothing and stops answering.
  services.kv.cleared();
  await eventPlane.publish("ns1.comp1.kv-query", {
    worker_id: embedded.worker.instanceId,
    reply_subject: "test.reply",
  });
  await new Promise((r) => setTimeout(r, 20));
  await events.close();
  await replies.close();
  const rest: unknown[] = [];
  for await (const e of events) rest.push(e);
  for await (const e of replies) rest.push(e);
  assert.deepEqual(rest, []);
  await eventPlane.close();
});

test("an engine started without an event plane still gets a handle that publishes nowhere", async () => {
  const engine = recordingEngine();
  await using _embedded = await startEmbeddedWorker(engine);
  assert.ok(engine.services);
  engine.services.kv.cleared(); // no plane: nothing to deliver, nothing thrown
  engine.services.publishLoadMetrics({
    kv_used_blocks: 0,
    kv_total_blocks: 0,
    inflight_requests: 0,
    waiting_requests: 0,
  });
});
