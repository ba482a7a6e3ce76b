/**
 * The `cpu` backend's paged attention: the JavaScript arrangement (`cpu_attention.ts`) gives
 * exactly the reference's bits (`pagedAttentionRef`) for GQA groups of 1, 3 and 4, several
 * sequences with scattered blocks, and positions inside and at the ends of blocks; the WebAssembly
 * SIMD kernels (`cpu_wasm/wasm_attention.ts`) agree with it within f32 summation error (1e-5).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { pagedAttentionCpu } from "../../src/gpu/backends/cpu_attention.ts";
import { pagedAttentionRef } from "../../src/gpu/reference/attention.ts";
import { createWasmKv } from "../../src/gpu/backends/cpu_wasm/wasm_attention.ts";

function values(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/**
 * Two sequences over 12 scattered blocks of 4 slots; 7 query tokens at positions inside and at
 * the ends of blocks. Returns the cache, the queries and the attention input.
 */
function probe(heads: number, kvHeads: number, d: number) {
  const blockSize = 4, maxBlocks = 5, numBlocks = 12;
  const positions = new Uint32Array([0, 3, 4, 17, 19, 2, 12]);
  const rows = numBlocks * blockSize * kvHeads * d;
  return {
    cache: { k: values(rows, 1), v: values(rows, 2) },
    q: values(positions.length * heads * d, 3),
    input: {
      heads,
      kvHeads,
      headDim: d,
      blockSize,
      maxBlocks,
      blockTable: new Uint32Array([7, 2, 9, 0, 11, 3, 10, 1, 5, 8]),
      tokenSeq: new Uint32Array([0, 0, 0, 0, 0, 1, 1]),
      positions,
    },
  };
}

describe("cpu paged attention", () => {
  for (const [heads, kvHeads, d] of [[4, 4, 8], [12, 4, 16], [8, 2, 32]]) {
    it(`H=${heads} HKV=${kvHeads} D=${d}: the reference's bits`, () => {
      const { cache, q, input } = probe(heads, kvHeads, d);
      assert.deepEqual(pagedAttentionCpu(q, cache, input), pagedAttentionRef(q, cache, input));
      const scaled = { ...input, scale: 0.3 };
      assert.deepEqual(pagedAttentionCpu(q, cache, scaled), pagedAttentionRef(q, cache, scaled));
    });
  }
});

describe("cpu paged attention on WebAssembly SIMD", () => {
  for (const [heads, kvHeads, d] of [[4, 4, 8], [12, 4, 16], [8, 2, 64]]) {
    it(`H=${heads} HKV=${kvHeads} D=${d}: the reference within f32 summation error`, () => {
      const { cache, q, input } = probe(heads, kvHeads, d);
      const kv = createWasmKv(cache.k, cache.v, { kvHeads, headDim: d, group: heads / kvHeads })!;
      const want = pagedAttentionRef(q, cache, input), got = kv.attend(q, input);
      for (let i = 0; i < want.length; i++) {
        assert.ok(Math.abs(got[i] - want[i]) <= 1e-5, `${i}: ${got[i]} vs ${want[i]}`);
      }
      // The cache's storage is the wasm memory: a write through the views is attended to.
      kv.v.fill(0.5);
      assert.ok(kv.attend(q, input).every((x) => Math.abs(x - 0.5) < 1e-6));
      assert.throws(() => kv.attend(q, { ...input, heads: heads * 2 }), /geometry/);
    });
  }

  it("refuses head dimensions the kernels cannot take (the backend then uses the JS arrangement)", () => {
    assert.equal(
      createWasmKv(new Float32Array(6), new Float32Array(6), { kvHeads: 1, headDim: 6, group: 1 }),
      undefined,
    );
  });
});
