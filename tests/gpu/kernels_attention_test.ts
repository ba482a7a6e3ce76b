/**
 * KV append, split-K paged attention with GQA and its merge pass, argmax, top-k/top-p
 * sampling and the decode-advance kernel, versus the CPU references.
 *
 * Tolerances: attention |gpu − ref| ≤ 1e-5 + 1e-4·|ref| (f32 throughout); KV append is an exact
 * copy; argmax and sampling must pick exactly the reference ids (same PCG draw).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice, assertClose, randomFloats } from "./_device.ts";
import { KernelHarness } from "./_kernel_harness.ts";
import { kvAppendGrid, kvAppendKernel } from "../../src/gpu/kernels/kv_append.ts";
import {
  attentionMergeKernel,
  attentionSplitKernel,
  attentionSplits,
} from "../../src/gpu/kernels/attention.ts";
import { argmaxKernel } from "../../src/gpu/kernels/argmax.ts";
import { SAMPLE_MAX_K, sampleKernel } from "../../src/gpu/kernels/sample.ts";
import { decodeAdvanceKernel } from "../../src/gpu/kernels/decode_advance.ts";
import { rowGrid } from "../../src/gpu/kernels/rmsnorm.ts";
import { kvAppendRef, pagedAttentionRef } from "../../src/gpu/reference/attention.ts";
import { argmaxRef, sampleRowRef, type SamplingParams } from "../../src/gpu/reference/sampling.ts";

const device = await acquireTestDevice();
const skip = device.skip;

async function withHarness(fn: (h: KernelHarness) => Promise<void>): Promise<void> {
  const h = new KernelHarness(device.context!);
  try {
    await fn(h);
  } finally {
    h.dispose();
  }
}

describe("paged attention (split-K + merge) with GQA", { skip }, () => {
  const cases = [
    { heads: 4, kvHeads: 4, headDim: 16, split: 8 },
    { heads: 8, kvHeads: 2, headDim: 16, split: 16 },
    { heads: 6, kvHeads: 2, headDim: 12, split: 8 },
    { heads: 4, kvHeads: 1, headDim: 32, split: 32 },
  ];
  for (const c of cases) {
    it(`H=${c.heads} HKV=${c.kvHeads} D=${c.headDim} split=${c.split}: decode and chunked prefill tokens`, () =>
      withHarness(async (h) => {
        const blockSize = 4, maxBlocks = 7, numBlocks = 16, row = c.kvHeads * c.headDim;
        const geometry = { ...c, blockSize, maxBlocks };
        // Two sequences with scattered blocks; tokens: seq 0 decode at 25, seq 1 prefill chunk 3..6, seq 0 at 0.
        const blockTable = new Uint32Array([3, 9, 0, 14, 5, 7, 11, 12, 1, 8, 2, 4, 6, 10]);
        const tokenSeq = new Uint32Array([0, 1, 1, 1, 1, 0]);
        const positions = new Uint32Array([25, 3, 4, 5, 6, 0]);
        const cache = {
          k: randomFloats(numBlocks * blockSize * row, 31),
          v: randomFloats(numBlocks * blockSize * row, 32),
        };
        const q = randomFloats(positions.length * c.heads * c.headDim, 33, 2);
        const T = positions.length, S = attentionSplits(geometry);
        const partial = h.buf(T * c.heads * S * c.headDim * 4),
          ml = h.buf(T * c.heads * S * 8),
          out = h.buf(q.byteLength);
        const uni = h.uni([T]);
        await h.run([
          {
            kernel: attentionSplitKernel(geometry),
            bindings: {
              0: uni,
              1: h.buf(q),
              2: h.buf(cache.k),
              3: h.buf(cache.v),
              4: h.buf(blockTable),
              5: h.buf(tokenSeq),
              6: h.buf(positions),
              7: partial,
              8: ml,
            },
            grid: [c.heads, S, T],
          },
          {
            kernel: attentionMergeKernel(geometry),
            bindings: { 0: uni, 1: partial, 2: ml, 3: out },
            grid: [c.heads, T, 1],
          },
        ]);
        const want = pagedAttentionRef(q, cache, { ...geometry, blockTable, tokenSeq, positions });
        assertClose(await h.f32(out, q.length), want, { abs: 1e-5, rel: 1e-4 }, "attention");
      }));
  }
  it("kv append writes each token's k and v at its slot", () =>
    withHarness(async (h) => {
      const kvHeads = 2, headDim = 24, row = kvHeads * headDim, slotsTotal = 20;
      const k = randomFloats(3 * row, 1), v = randomFloats(3 * row, 2);
      const slots = new Uint32Array([17, 0, 5]);
      const kc = randomFloats(slotsTotal * row, 3), vc = randomFloats(slotsTotal * row, 4);
      const kb = h.buf(kc), vb = h.buf(vc);
      await h.run([{
        kernel: kvAppendKernel({ kvHeads, headDim }),
        bindings: { 0: h.uni([3]), 1: h.buf(k), 2: h.buf(v), 3: h.buf(slots), 4: kb, 5: vb },
        grid: kvAppendGrid(kvHeads, headDim, 3),
      }]);
      const want = { k: kc.slice(), v: vc.slice() };
      kvAppendRef(want, k, v, slots, row);
      assert.deepEqual(await h.f32(kb, kc.length), want.k);
      assert.deepEqual(await h.f32(vb, vc.length), want.v);
    }));
});

describe("sampling kernels", { skip }, () => {
  it("argmax over rows (vocab 1000, ties to lowest index)", () =>
    withHarness(async (h) => {
      const vocab = 1000, rows = 3;
      const logits = randomFloats(rows * vocab, 8);
      logits[2 * vocab + 10] = 5;
      logits[2 * vocab + 900] = 5;
      const ids = h.buf(rows * 4);
      await h.run([{
        kernel: argmaxKernel({ vocab }),
        bindings: { 0: h.uni([rows]), 1: h.buf(logits), 2: ids },
        grid: rowGrid(rows),
      }]);
      const got = await h.u32(ids, rows);
      assert.deepEqual(got, argmaxRef(logits, vocab));
      assert.equal(got[2], 10);
    }));
  it("top-k/top-p sampling picks the reference ids for several params and steps", () =>
    withHarness(async (h) => {
      const vocab = 700;
      const params: SamplingParams[] = [
        { temperature: 0, topK: 0, topP: 1, seed: 1 },
        { temperature: 1, topK: 1, topP: 1, seed: 2 },
        { temperature: 0.8, topK: 40, topP: 0.9, seed: 3 },
        { temperature: 1.5, topK: 0, topP: 0.5, seed: 4 },
        { temperature: 1, topK: 300, topP: 1, seed: 5 },
        { temperature: 2, topK: 5, topP: 0.99, seed: 6 },
      ];
      const rows = params.length;
      const logits = randomFloats(rows * vocab, 17, 4);
      const words = new Uint32Array(rows * 4);
      const f = new Float32Array(words.buffer);
      params.forEach((p, r) => {
        f[r * 4] = p.temperature;
        words[r * 4 + 1] = p.topK;
        f[r * 4 + 2] = p.topP;
        words[r * 4 + 3] = p.seed;
      });
      const logitsBuf = h.buf(logits), paramBuf = h.buf(words);
      const seen = new Set<number>();
      for (const step of [0, 1, 2, 77]) {
        const ids = h.buf(rows * 4);
        await h.run([{
          kernel: sampleKernel({ vocab }),
          bindings: {
            0: h.uni([rows]),
            1: logitsBuf,
            2: paramBuf,
            3: h.buf(new Uint32Array([step])),
            4: ids,
          },
          grid: rowGrid(rows),
        }]);
        const got = await h.u32(ids, rows);
        const want = params.map((p, r) =>
          sampleRowRef(
            logits.subarray(r * vocab, (r + 1) * vocab),
            p,
            { step, row: r },
            SAMPLE_MAX_K,
          )
        );
        assert.deepEqual([...got], want, `step ${step}`);
        seen.add(got[3]);
      }
      assert.ok(seen.size > 1, "the draw changes with the step");
    }));
  it("decode advance appends history, advances positions and the step, and stops at the end", () =>
    withHarness(async (h) => {
      const state = h.buf(new Uint32Array([2])), positions = h.buf(new Uint32Array([3, 6]));
      const history = h.buf(3 * 2 * 4);
      const step = (ids: number[]) => ({
        kernel: decodeAdvanceKernel(),
        bindings: {
          0: h.uni([2]),
          1: state,
          2: positions,
          6: h.buf(new Uint32Array(ids)),
          7: history,
        },
        grid: [1, 1, 1] as [number, number, number],
      });
      await h.run([step([42, 43])]);
      assert.deepEqual([...await h.u32(state, 1)], [3]);
      assert.deepEqual([...await h.u32(positions, 2)], [4, 7]);
      assert.deepEqual([...await h.u32(history, 6)], [0, 0, 0, 0, 42, 43]);
      // Row 3 lies past the 3-row history: nothing is written, the rest still advances.
      await h.run([step([50, 51])]);
      assert.deepEqual([...await h.u32(state, 1)], [4]);
      assert.deepEqual([...await h.u32(positions, 2)], [5, 8]);
      assert.deepEqual([...await h.u32(history, 6)], [0, 0, 0, 0, 42, 43]);
    }));
});
