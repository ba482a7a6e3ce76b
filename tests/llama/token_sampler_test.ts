import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createSampler, topIndices } from "../../engines/llama/token_sampler.ts";
import { BlockManager } from "../../engines/llama/block_manager.ts";

const logits = new Float32Array([1, 3, 2, 0.5, 3, -1]);

describe("token sampler", () => {
  it("topIndices: the k largest, ties to the lower index", () => {
    assert.deepEqual(topIndices(logits, 3), [1, 4, 2]);
    assert.deepEqual(topIndices(logits, 10), [1, 4, 2, 0, 3, 5]);
  });

  it("temperature sampling follows the softmax; top-k, top-p and min-p cut the tail", () => {
    const counts = (settings: Parameters<typeof createSampler>[0], n = 4000) => {
      const s = createSampler({ seed: 3, ...settings });
      const c = new Array(logits.length).fill(0);
      for (let i = 0; i < n; i++) c[s.sample(logits, [], []).token]++;
      return c.map((x) => x / n);
    };
    const z = [...logits].reduce((a, v) => a + Math.exp(v), 0);
    const free = counts({ temperature: 1 });
    free.forEach((f, i) =>
      assert.ok(Math.abs(f - Math.exp(logits[i]) / z) < 0.03, `token ${i}: ${f}`)
    );
    const k2 = counts({ temperature: 1, topK: 2 });
    assert.equal(k2[0] + k2[2] + k2[3] + k2[5], 0);
    // top_p 0.5: tokens 1 and 4 hold 0.62 of the mass, so nothing else.
    const p = counts({ temperature: 1, topP: 0.5 });
    assert.ok(p[1] > 0 && p[4] > 0 && p[1] + p[4] === 1);
    // min_p 0.3: e^(2−3) = 0.37 keeps token 2; e^(1−3) = 0.14 drops token 0.
    const m = counts({ temperature: 1, minP: 0.3 });
    assert.ok(m[2] > 0 && m[0] === 0 && m[3] === 0);
  });

  it("reports the sampled token's rank even outside the top entries", () => {
    const s = createSampler({ temperature: 1, topK: 1, logprobs: 1, seed: 1 });
    const out = s.sample(new Float32Array([5, 1, 9]), [], []);
    assert.equal(out.token, 2);
    assert.deepEqual(out.top!.map((t) => [t.rank, t.token_id]), [[1, 2]]);
    const penalised = createSampler({ temperature: 0, logprobs: 0, repetitionPenalty: 100 })
      .sample(new Float32Array([5, 1, 9]), [2], []);
    assert.equal(penalised.token, 0);
    assert.deepEqual(penalised.top!.map((t) => [t.rank, t.token_id]), [[2, 0]]);
  });
});

describe("block manager", () => {
  it("shares full blocks by content, evicts unreferenced cached blocks last, and counts free blocks", () => {
    const m = new BlockManager(4, 2);
    const a = [m.allocate()!, m.allocate()!];
    m.commit(a, [1, 2, 3, 4], 0);
    assert.deepEqual(m.match([1, 2, 3, 4, 5]), a, "both blocks hit while referenced");
    m.release(a);
    m.release(a);
    assert.equal(m.freeCount(), 4);
    assert.deepEqual(m.match([1, 2, 9, 9, 9]), [a[0]], "a different second block misses");
    assert.deepEqual(m.match([7, 2, 3, 4, 5]), [], "a different first block breaks the chain");
    m.release([a[0]]);
    // Allocation takes plain free blocks first, then evicts cached ones.
    const taken = [m.allocate(), m.allocate(), m.allocate(), m.allocate()];
    assert.equal(new Set(taken).size, 4);
    assert.equal(m.allocate(), undefined);
    assert.deepEqual(m.match([1, 2, 3, 4, 5]), [], "evicted blocks no longer match");
    assert.throws(() => m.release([3, 3]), /not allocated/);
  });
});
