import { test } from "node:test";
import assert from "node:assert/strict";
import { BlockManager } from "../../engines/mocker/block_manager.ts";
import { Scheduler, type SchedulerConfig } from "../../engines/mocker/scheduler.ts";
import { Sequence } from "../../engines/mocker/sequence.ts";
import { mockToken } from "../../engines/mocker/mocker_engine.ts";
import { BlockHasher } from "../../src/kv/block_hash.ts";
import { below, rng } from "../kv/_random.ts";

const hasher = await BlockHasher.create();

function setup(config: Partial<SchedulerConfig> & { totalBlocks: number }) {
  const blocks = new BlockManager({ totalBlocks: config.totalBlocks });
  const scheduler = new Scheduler(
    {
      blockSize: 4,
      maxNumSeqs: 8,
      maxNumBatchedTokens: 32,
      chunkedPrefill: true,
      watermark: 0,
      ...config,
    },
    blocks,
    hasher,
  );
  return { blocks, scheduler };
}

/** A sequence whose token i is mockToken(0, digest, i): what it streams is checkable. */
function seq(id: number, prompt: number[], maxTokens: number): Sequence {
  let i = 0;
  return new Sequence(String(id), prompt, maxTokens, () => mockToken(0, id, i++));
}

function expected(id: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => mockToken(0, id, i));
}

/** Checks the scheduler's invariants after a step. */
function checkInvariants(
  scheduler: Scheduler,
  blocks: BlockManager,
  config: { maxNumSeqs: number; blockSize: number },
) {
  blocks.checkInvariants();
  assert.ok(scheduler.running.length <= config.maxNumSeqs, "max_num_seqs respected");
  let refs = 0;
  const distinct = new Set<number>();
  for (const s of scheduler.running) {
    assert.equal(s.state, "running");
    assert.ok(s.blocks.length * config.blockSize >= s.computed, "computed KV fits its blocks");
    for (const b of s.blocks) distinct.add(b);
    refs += s.blocks.length;
  }
  for (const s of scheduler.waiting) {
    assert.equal(s.state, "waiting");
    assert.equal(s.blocks.length, 0, "waiting sequences hold no blocks");
  }
  let counted = 0;
  for (const b of distinct) counted += blocks.refCount(b);
  assert.equal(counted, refs, "every reference belongs to a running sequence");
  assert.equal(blocks.usedBlocks, distinct.size, "blocks conserved: used = held");
}

test("a shared prefix is served from the cache and counted as a hit", () => {
  const { blocks, scheduler } = setup({ totalBlocks: 64 });
  const prompt = Array.from({ length: 18 }, (_, i) => i + 1);
  const a = seq(1, prompt, 2);
  scheduler.add(a);
  while (!scheduler.idle) scheduler.complete(scheduler.schedule());
  assert.equal(a.cachedTokens, 0);
  const b = seq(2, [...prompt.slice(0, 16), 99, 98, 97], 2);
  scheduler.add(b);
  const plan = scheduler.schedule();
  assert.equal(b.cachedTokens, 16, "four full blocks hit");
  assert.equal(plan.prefillTokens, 3, "only the uncached tokens are prefilled");
  // A prompt fully cached still recomputes its last token (as vLLM).
  scheduler.complete(plan);
  while (!scheduler.idle) scheduler.complete(scheduler.schedule());
  const c = seq(3, prompt.slice(0, 16), 1);
  scheduler.add(c);
  assert.equal(scheduler.schedule().prefillTokens, 4);
  assert.equal(c.cachedTokens, 12);
  assert.ok(blocks.hitBlocks >= 7);
});

test("chunked prefill splits a long prompt over iterations within the token budget", () => {
  const { scheduler } = setup({ totalBlocks: 64, maxNumBatchedTokens: 8 });
  const s = seq(1, Array.from({ length: 20 }, (_, i) => i), 1);
  scheduler.add(s);
  const chunks: number[] = [];
  const emitted: number[] = [];
  while (!scheduler.idle) {
    const plan = scheduler.schedule();
    chunks.push(plan.prefillTokens);
    for (const e of scheduler.complete(plan)) emitted.push(e.token);
  }
  assert.deepEqual(chunks, [8, 8, 4]);
  assert.deepEqual(emitted, expected(1, 1));
});

test("without chunked prefill a prompt waits for a whole budget", () => {
  const { scheduler } = setup({ totalBlocks: 64, maxNumBatchedTokens: 16, chunkedPrefill: false });
  const a = seq(1, Array.from({ length: 10 }, (_, i) => i), 3);
  const b = seq(2, Array.from({ length: 10 }, (_, i) => 50 + i), 3);
  scheduler.add(a);
  scheduler.add(b);
  const first = scheduler.schedule();
  assert.equal(first.work.length, 1, "the second prompt does not fit the rest of the budget");
  assert.equal(first.prefillTokens, 10);
});

test("preemption frees blocks, and the resumed sequence streams on with nothing lost or repeated", () => {
  const config = { totalBlocks: 6, maxNumSeqs: 4, maxNumBatchedTokens: 64, blockSize: 4 };
  const { blocks, scheduler } = setup(config);
  const seqs = [1, 2, 3].map((id) =>
    seq(id, Array.from({ length: 6 }, (_, i) => id * 100 + i), 10)
  );
  for (const s of seqs) scheduler.add(s);
  const streams = new Map<string, number[]>();
  for (let step = 0; step < 500 && !scheduler.idle; step++) {
    const plan = scheduler.schedule();
    checkInvariants(scheduler, blocks, config);
    for (const e of scheduler.complete(plan)) {
      const list = streams.get(e.seq.id) ?? [];
      list.push(e.token);
      streams.set(e.seq.id, list);
    }
    checkInvariants(scheduler, blocks, config);
  }
  assert.ok(scheduler.idle, "every sequence finished");
  assert.ok(scheduler.preemptions > 0, "the small cache forced preemptions");
  for (const s of seqs) assert.deepEqual(streams.get(s.id), expected(Number(s.id), 10));
  assert.equal(blocks.usedBlocks, 0);
});

for (const seed of [21, 22, 23, 24]) {
  test(`scheduler: random traffic keeps invariants, budgets and exact streams (seed ${seed})`, () => {
    const random = rng(seed);
    const config = {
      totalBlocks: 12 + below(random, 12),
      maxNumSeqs: 2 + below(random, 6),
      maxNumBatchedTokens: 4 + below(random, 40),
      blockSize: 4,
      chunkedPrefill: true,
      watermark: random() < 0.5 ? 0 : 0.1,
    };
    const { blocks, scheduler } = setup(config);
    const prefixes = [0, 1, 2].map((p) => Array.from({ length: 12 }, (_, i) => p * 1000 + i));
    const all: Sequence[] = [];
    const streams = new Map<Sequence, number[]>();
    let nextId = 1;
    for (let step = 0; step < 3000; step++) {
      if (random() < 0.3 && all.length < 600) {
        const id = nextId++;
        const prefix = prefixes[below(random, 3)].slice(0, below(random, 13));
        const prompt = [
          ...prefix,
          ...Array.from({ length: 1 + below(random, 8) }, () => below(random, 500)),
        ];
        const maxTokens = 1 + below(random, 24);
        if (Math.ceil((prompt.length + maxTokens) / 4) <= config.totalBlocks) {
          const s = seq(id, prompt, maxTokens);
          all.push(s);
          streams.set(s, []);
          scheduler.add(s);
        }
      }
      if (random() < 0.03) {
        const live = all.filter((s) => s.state !== "finished");
        if (live.length > 0) scheduler.cancel(live[below(random, live.length)]); // frees at once
        checkInvariants(scheduler, blocks, config);
      }
      if (scheduler.idle) continue;
      const plan = scheduler.schedule();
      let tokens = 0;
      for (const w of plan.work) tokens += w.tokens;
      assert.ok(tokens <= config.maxNumBatchedTokens, "token budget respected");
      checkInvariants(scheduler, blocks, config);
      for (const e of scheduler.complete(plan)) streams.get(e.seq)!.push(e.token);
      checkInvariants(scheduler, blocks, config);
    }
    for (let i = 0; i < 10000 && !scheduler.idle; i++) {
      for (const e of scheduler.complete(scheduler.schedule())) streams.get(e.seq)!.push(e.token);
    }
    assert.ok(scheduler.idle);
    assert.equal(blocks.usedBlocks, 0, "every block came back");
    for (const s of all) {
      const got = streams.get(s)!;
      const want = expected(Number(s.id), s.generated);
      assert.deepEqual(got, want, `sequence ${s.id} after ${s.preemptions} preemptions`);
      if (s.generated < s.maxTokens) continue; // cancelled
      assert.equal(got.length, s.maxTokens);
    }
    assert.ok(all.some((s) => (s.cachedTokens ?? 0) > 0), "prefix hits happened");
    assert.ok(scheduler.preemptions > 0, "the random traffic forced preemptions");
    assert.ok(all.length > 300);
  });
}
