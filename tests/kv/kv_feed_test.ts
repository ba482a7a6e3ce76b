import { test } from "node:test";
import assert from "node:assert/strict";
import {
  InProcessEventBus,
  InProcessEventPlane,
} from "../../src/event_plane/in_process_event_plane.ts";
import { KvIndexFeed } from "../../src/kv/kv_index_feed.ts";
import { createEngineServices } from "../../src/kv/kv_publisher.ts";
import { hex } from "./_random.ts";

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const block = (i: number) => ({ block_hash: hex(i), tokens_hash: hex(i) });

test("a router that missed events resyncs from the worker's snapshot over the event plane", async () => {
  const bus = new InProcessEventBus();
  const workerPlane = new InProcessEventPlane({ bus });
  const routerPlane = new InProcessEventPlane({ bus });
  const cached = new Set<string>();
  const handle = createEngineServices({ workerId: "42", eventPlane: workerPlane });
  handle.services.kv.setSnapshotProvider(() => [...cached]);
  const store = (i: number) => {
    cached.add(hex(i));
    handle.services.kv.stored(null, [block(i)]);
  };
  store(1);
  store(2); // published before the router subscribed: it never sees ids 1 and 2
  const feed = KvIndexFeed.start({ eventPlane: routerPlane, resyncTimeoutMs: 100 });
  try {
    store(3);
    await until(() => feed.indexer.blocksOf("42") === 3 && !feed.indexer.resyncing("42"), "resync");
    assert.equal(feed.resyncs, 1);
    for (const i of [1, 2, 3]) assert.equal(feed.indexer.overlaps([hex(i)]).get("42"), 1);
    cached.delete(hex(2));
    handle.services.kv.removed([hex(2)]);
    await until(() => feed.indexer.blocksOf("42") === 2, "removal");
    handle.services.publishLoadMetrics({
      kv_used_blocks: 2,
      kv_total_blocks: 10,
      inflight_requests: 1,
      waiting_requests: 0,
    });
    await until(() => feed.load.get("42")?.kv_used_blocks === 2, "load metrics");
    // Invalid messages are ignored, not fatal.
    await workerPlane.publish("dynamo.backend.kv-events", { event_id: "x" });
    handle.services.kv.cleared();
    cached.clear();
    await until(() => feed.indexer.blocksOf("42") === 0, "cleared");
    feed.removeWorker("42");
    assert.equal(feed.indexer.knows("42"), false);
  } finally {
    await feed.close();
    await handle.close();
    await workerPlane.close();
    await routerPlane.close();
  }
  assert.equal(bus.subscribers.size, 0, "every subscription was closed");
});

test("a router whose subscription fell behind resubscribes and resyncs every worker", async () => {
  const bus = new InProcessEventBus();
  const workerPlane = new InProcessEventPlane({ bus });
  const routerPlane = new InProcessEventPlane({ bus });
  const cached = new Set<string>();
  const handle = createEngineServices({ workerId: "7", eventPlane: workerPlane });
  handle.services.kv.setSnapshotProvider(() => [...cached]);
  const feed = KvIndexFeed.start({ eventPlane: routerPlane, resyncTimeoutMs: 100 });
  try {
    cached.add(hex(1));
    handle.services.kv.stored(null, [block(1)]);
    await until(() => feed.indexer.blocksOf("7") === 1, "first event");
    // A burst larger than the router's buffer, published without yielding: it falls behind.
    for (let i = 2; i < 70_002; i++) {
      cached.add(hex(i));
      handle.services.kv.stored(hex(i - 1), [block(i)]);
    }
    await until(
      () => feed.indexer.blocksOf("7") === 70_001 && !feed.indexer.resyncing("7"),
      "resync after the failed subscription",
    );
    assert.ok(feed.resyncs >= 1);
    cached.add(hex(999_999));
    handle.services.kv.stored(null, [block(999_999)]);
    await until(() => feed.indexer.blocksOf("7") === 70_002, "events flow again");
  } finally {
    await feed.close();
    await handle.close();
    await workerPlane.close();
    await routerPlane.close();
  }
});
