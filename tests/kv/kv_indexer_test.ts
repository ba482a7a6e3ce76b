import { test } from "node:test";
import assert from "node:assert/strict";
import { KvIndexer } from "../../src/kv/kv_indexer.ts";
import type { KvEvent, KvEventData } from "../../src/kv/kv_event.ts";
import { below, hex, rng } from "./_random.ts";

/** A simulated worker: the blocks it really holds and the events it published. */
interface SimWorker {
  id: string;
  truth: Set<string>;
  nextId: number;
}

function bruteOverlaps(workers: Iterable<SimWorker>, query: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const w of workers) {
    let n = 0;
    while (n < query.length && w.truth.has(query[n])) n++;
    if (n > 0) out.set(w.id, n);
  }
  return out;
}

function sorted(map: Map<string, number>): [string, number][] {
  return [...map].sort((a, b) => a[0].localeCompare(b[0]));
}

/**
 * Random-stream cases: `workers` live at once (more than 32 exercises multi-word holder
 * masks; up to 32, the one-word masks kept in the hash table's slots), `lateJoins` more join
 * halfway (crossing 32 widens every row mid-run), `chains` distinct chains (800 makes the
 * hash table resize and shift long probe runs).
 */
const cases = [
  ...[1, 2, 3, 4, 5].map((seed) => ({ seed, workers: 36, lateJoins: 0, chains: 12 })),
  { seed: 6, workers: 12, lateJoins: 0, chains: 12 },
  { seed: 7, workers: 16, lateJoins: 0, chains: 800 },
  { seed: 8, workers: 30, lateJoins: 6, chains: 800 },
  { seed: 9, workers: 28, lateJoins: 8, chains: 12 },
];
for (const { seed, workers: liveWorkers, lateJoins, chains } of cases) {
  test(`indexer equals brute force on random streams with gaps and departures (seed ${seed}, ${liveWorkers}+${lateJoins} workers, ${chains} chains)`, () => {
    const random = rng(seed);
    // Base chains: chain c, block j has hash c*100 + j (prefix structure of requests).
    const CHAINS = chains;
    const DEPTH = 10;
    const chain = (c: number, n: number) => Array.from({ length: n }, (_, j) => hex(c * 100 + j));
    const indexer = new KvIndexer();
    const live = new Map<string, SimWorker>();
    let nextWorker = 1;
    const join = () => {
      const w: SimWorker = { id: String(nextWorker++), truth: new Set(), nextId: 1 };
      live.set(w.id, w);
    };
    for (let i = 0; i < liveWorkers; i++) join();
    const publish = (w: SimWorker, data: KvEventData, drop: boolean) => {
      const event: KvEvent = { event_id: w.nextId++, worker_id: w.id, dp_rank: 0, data };
      if (data.type === "stored") { for (const b of data.blocks) w.truth.add(b.block_hash); }
      else if (data.type === "removed") { for (const h of data.block_hashes) w.truth.delete(h); }
      else w.truth.clear();
      if (drop) {
        unseen.add(w.id); // lost on the way: the worker's next event reveals the gap
        return;
      }
      unseen.delete(w.id);
      const result = indexer.applyEvent(event);
      if (result === "gap") pendingResync.add(w.id);
    };
    const pendingResync = new Set<string>();
    const unseen = new Set<string>();
    const resyncAll = () => {
      // A lost last event is invisible until the worker publishes again: let it.
      for (const id of [...unseen]) {
        const w = live.get(id);
        if (w !== undefined) {
          publish(w, {
            type: "stored",
            parent_hash: null,
            blocks: [{ block_hash: hex(7777), tokens_hash: hex(7777) }],
          }, false);
        }
      }
      unseen.clear();
      for (const id of pendingResync) {
        const w = live.get(id);
        if (w === undefined) continue;
        const result = indexer.applySnapshot({
          worker_id: id,
          last_event_id: w.nextId - 1,
          block_hashes: [...w.truth],
        });
        assert.equal(result, "applied");
        assert.equal(indexer.resyncing(id), false);
      }
      pendingResync.clear();
    };
    let gaps = 0;
    for (let step = 0; step < 4000; step++) {
      if (step === 2000) { for (let i = 0; i < lateJoins; i++) join(); }
      const workers = [...live.values()];
      const w = workers[below(random, workers.length)];
      const drop = random() < 0.03;
      if (drop) gaps++;
      const r = random();
      if (r < 0.55) {
        const c = below(random, CHAINS);
        const from = below(random, DEPTH);
        const n = 1 + below(random, DEPTH - from);
        const hashes = chain(c, from + n).slice(from);
        publish(w, {
          type: "stored",
          parent_hash: from === 0 ? null : hex(c * 100 + from - 1),
          blocks: hashes.map((h) => ({ block_hash: h, tokens_hash: h })),
        }, drop);
      } else if (r < 0.9) {
        const held = [...w.truth];
        if (held.length === 0) continue;
        const picked = held.filter(() => random() < 0.3);
        if (picked.length === 0) picked.push(held[0]);
        publish(w, { type: "removed", block_hashes: picked }, drop);
      } else if (r < 0.93) {
        publish(w, { type: "cleared" }, drop);
      } else if (r < 0.96) {
        live.delete(w.id);
        pendingResync.delete(w.id);
        unseen.delete(w.id);
        indexer.removeWorker(w.id);
        join();
      } else {
        // Stale duplicates are ignored.
        if (w.nextId > 1 && !indexer.resyncing(w.id) && !unseen.has(w.id)) {
          assert.equal(
            indexer.applyEvent({
              event_id: w.nextId - 1,
              worker_id: w.id,
              dp_rank: 0,
              data: { type: "cleared" },
            }),
            "stale",
          );
        }
      }
      if (step % 50 === 49) {
        resyncAll();
        for (let q = 0; q < 20; q++) {
          const c = below(random, CHAINS);
          const query = chain(c, 1 + below(random, DEPTH));
          if (random() < 0.3) query[below(random, query.length)] = hex(999999);
          assert.deepEqual(
            sorted(indexer.overlaps(query)),
            sorted(bruteOverlaps(live.values(), query)),
            `step ${step}`,
          );
        }
      }
    }
    assert.ok(gaps > 50, `the stream had gaps (${gaps})`);
  });
}

test("events that arrive during a resync are buffered and replayed after the snapshot", () => {
  const indexer = new KvIndexer();
  const stored = (id: number, h: number): KvEvent => ({
    event_id: id,
    worker_id: "9",
    dp_rank: 0,
    data: {
      type: "stored",
      parent_hash: null,
      blocks: [{ block_hash: hex(h), tokens_hash: hex(h) }],
    },
  });
  assert.equal(indexer.applyEvent(stored(1, 1)), "applied");
  assert.equal(indexer.applyEvent(stored(3, 3)), "gap"); // event 2 was lost
  assert.equal(indexer.applyEvent(stored(4, 4)), "buffered");
  assert.equal(indexer.resyncing("9"), true);
  // The worker's snapshot was taken after event 3.
  assert.equal(
    indexer.applySnapshot({
      worker_id: "9",
      last_event_id: 3,
      block_hashes: [hex(1), hex(2), hex(3)],
    }),
    "applied",
  );
  assert.equal(indexer.blocksOf("9"), 4);
  for (const h of [1, 2, 3, 4]) assert.equal(indexer.overlaps([hex(h)]).get("9"), 1);
  // A snapshot older than the buffered events leaves a gap: ask again.
  assert.equal(indexer.applyEvent(stored(7, 7)), "gap");
  assert.equal(
    indexer.applySnapshot({ worker_id: "9", last_event_id: 5, block_hashes: [] }),
    "gap",
  );
  assert.equal(indexer.resyncing("9"), true);
  // A first event with id > 1 from an unknown worker is a gap too (a router that started late).
  assert.equal(indexer.applyEvent({ ...stored(5, 5), worker_id: "10" }), "gap");
  indexer.removeWorker("9");
  assert.equal(indexer.knows("9"), false);
  assert.equal(indexer.overlaps([hex(1)]).size, 0);
});
