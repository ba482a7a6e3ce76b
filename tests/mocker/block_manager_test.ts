import { test } from "node:test";
import assert from "node:assert/strict";
import { BlockManager } from "../../engines/mocker/block_manager.ts";
import type { KvEventSink } from "../../src/engine/engine_services.ts";
import { below, hex, rng } from "../kv/_random.ts";

/** A sink that replays the events into the set of hashes they describe. */
function replaySink(): KvEventSink & { view: Set<string>; provider: () => readonly string[] } {
  const sink = {
    view: new Set<string>(),
    provider: (() => []) as () => readonly string[],
    stored(_parent: string | null, blocks: readonly { block_hash: string }[]) {
      for (const b of blocks) {
        assert.ok(!sink.view.has(b.block_hash), "a block is reported stored twice");
        sink.view.add(b.block_hash);
      }
    },
    removed(hashes: readonly string[]) {
      for (const h of hashes) assert.ok(sink.view.delete(h), "removal of an unknown block");
    },
    cleared() {
      sink.view.clear();
    },
    setSnapshotProvider(fn: () => readonly string[]) {
      sink.provider = fn;
    },
  };
  return sink;
}

test("blocks: allocate, share, cache, evict least recently used", () => {
  const sink = replaySink();
  const blocks = new BlockManager({ totalBlocks: 3, sink });
  const a = blocks.allocate()!;
  const b = blocks.allocate()!;
  assert.equal(blocks.commit(a, { block_hash: hex(1), tokens_hash: hex(1) }, null), true);
  assert.equal(blocks.commit(b, { block_hash: hex(2), tokens_hash: hex(2) }, hex(1)), true);
  // Same content on another block stays private.
  const c = blocks.allocate()!;
  assert.equal(blocks.commit(c, { block_hash: hex(1), tokens_hash: hex(1) }, null), false);
  assert.equal(blocks.allocate(), undefined, "every block in use");
  assert.equal(blocks.matchPrefix([hex(1), hex(2), hex(3)], 3), 2);
  assert.equal(blocks.acquireCached(hex(1)), a);
  assert.equal(blocks.refCount(a), 2);
  blocks.release(a);
  blocks.release(a); // refcount 0: evictable, still cached
  blocks.release(b);
  blocks.release(c); // private: back to the free list
  assert.equal(blocks.freeBlocks, 3);
  assert.equal(blocks.cachedBlocks, 2);
  assert.throws(() => blocks.release(c), /double free/);
  blocks.allocate(); // from the free list: nothing evicted
  assert.equal(blocks.cachedBlocks, 2);
  blocks.allocate(); // evicts a (released first: least recently used)
  assert.deepEqual(blocks.cachedHashes(), [hex(2)]);
  assert.deepEqual([...sink.view], [hex(2)]);
  assert.deepEqual([...sink.provider()], [hex(2)]);
  blocks.checkInvariants();
});

for (const seed of [11, 12, 13]) {
  test(`blocks: random operations keep every invariant and the event view exact (seed ${seed})`, () => {
    const random = rng(seed);
    const sink = replaySink();
    const blocks = new BlockManager({ totalBlocks: 24, sink });
    const held: number[] = []; // one entry per reference taken
    for (let step = 0; step < 5000; step++) {
      const r = random();
      if (r < 0.35) {
        const b = blocks.allocate();
        if (b === undefined) assert.equal(blocks.freeBlocks, 0);
        else held.push(b);
      } else if (r < 0.7 && held.length > 0) {
        const i = below(random, held.length);
        blocks.release(held[i]);
        held.splice(i, 1);
      } else if (r < 0.85 && held.length > 0) {
        const h = hex(below(random, 40));
        blocks.commit(held[below(random, held.length)], { block_hash: h, tokens_hash: h }, null);
      } else {
        const h = hex(below(random, 40));
        if (blocks.matchPrefix([h], 1) === 1) held.push(blocks.acquireCached(h));
      }
      blocks.checkInvariants();
      assert.equal(blocks.usedBlocks, new Set(held).size, "blocks conserved");
      assert.deepEqual(
        [...sink.view].sort(),
        blocks.cachedHashes().sort(),
        "events describe the cache",
      );
    }
    for (const b of held) blocks.release(b);
    assert.equal(blocks.freeBlocks, 24);
    blocks.checkInvariants();
  });
}
