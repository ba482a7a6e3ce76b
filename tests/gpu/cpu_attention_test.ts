/**
 * The `cpu` backend's paged attention (`src/gpu/backends/cpu_attention.ts`) gives exactly the
 * reference's bits (`pagedAttentionRef`) for GQA groups of 1, 3 and 4, several sequences with
 * scattered blocks, and positions inside and at the ends of blocks.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { pagedAttentionCpu } from "../../src/gpu/backends/cpu_attention.ts";
import { pagedAttentionRef } from "../../src/gpu/reference/attention.ts";

function values(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

describe("cpu paged attention", () => {
  for (const [heads, kvHeads, d] of [[4, 4, 8], [12, 4, 16], [8, 2, 32]]) {
    it(`H=${heads} HKV=${kvHeads} D=${d}: the reference's bits`, () => {
      const blockSize = 4, maxBlocks = 5, numBlocks = 12;
      const blockTable = new Uint32Array([
        ...[7, 2, 9, 0, 11],
        ...[3, 10, 1, 5, 8],
      ]);
      const positions = new Uint32Array([0, 3, 4, 17, 19, 2, 12]);
      const tokenSeq = new Uint32Array([0, 0, 0, 0, 0, 1, 1]);
      const rows = numBlocks * blockSize * kvHeads * d;
      const cache = { k: values(rows, 1), v: values(rows, 2) };
      const q = values(positions.length * heads * d, 3);
      const input = {
        heads,
        kvHeads,
        headDim: d,
        blockSize,
        maxBlocks,
        blockTable,
        tokenSeq,
        positions,
      };
      assert.deepEqual(pagedAttentionCpu(q, cache, input), pagedAttentionRef(q, cache, input));
      const scaled = { ...input, scale: 0.3 };
      assert.deepEqual(pagedAttentionCpu(q, cache, scaled), pagedAttentionRef(q, cache, scaled));
    });
  }
});
