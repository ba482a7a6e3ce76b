/**
 * Kernel source generation is pure: these tests need no device. They pin the properties the
 * GPU path relies on (specialisation, determinism, hashing, argument validation) and the host
 * number formats (f16 rounding, GGML Q8_0/Q4_0 layout, repacking).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { gemvGrid, gemvKernel } from "../../src/gpu/kernels/gemv.ts";
import {
  GEMV_CANDIDATES,
  GEMV_WIDE_CANDIDATES,
  gemvBatchable,
  gemvBucketCandidates,
  gemvCandidates,
  gemvTuning,
  matmulPiece,
  type TuningConfig,
} from "../../src/gpu/compile/kernel_piece.ts";
import { gemvDefaultTokens } from "../../src/gpu/kernels/gemv_tokens.ts";
import { gemmGrid, gemmKernel } from "../../src/gpu/kernels/gemm.ts";
import { attentionSplitKernel, attentionSplits } from "../../src/gpu/kernels/attention.ts";
import { kvAppendKernel } from "../../src/gpu/kernels/kv_append.ts";
import { ropeKernel } from "../../src/gpu/kernels/rope.ts";
import { rmsnormKernel } from "../../src/gpu/kernels/rmsnorm.ts";
import { grid2d, weightBindings } from "../../src/gpu/kernels/kernel_source.ts";
import {
  dequantize,
  f16BitsToF32,
  f32ToF16Bits,
  quantizeQ4_0,
  quantizeQ8_0,
  repackBlocks,
} from "../../src/gpu/kernels/quant.ts";
import {
  concatWeightRows,
  hostWeightFromF32,
  packWeight,
} from "../../src/gpu/kernels/host_weight.ts";
import { fnv1aHex, sha256Hex, stableStringify } from "../../src/gpu/device/content_hash.ts";
import { randomFloats } from "./_device.ts";

describe("WGSL generation (no device)", () => {
  it("is deterministic and hashes by content", () => {
    const a = gemvKernel({ dtype: "q4_0", n: 64, k: 128 });
    const b = gemvKernel({ dtype: "q4_0", n: 64, k: 128 });
    const c = gemvKernel({ dtype: "q4_0", n: 64, k: 128, workgroupSize: 128 });
    assert.equal(a.code, b.code);
    assert.equal(a.hash, b.hash);
    assert.notEqual(a.hash, c.hash);
  });
  it("bakes shapes and tuning parameters into the source", () => {
    const k = gemmKernel({
      dtype: "f16",
      n: 96,
      k: 64,
      tile: { bm: 16, bn: 32, bk: 8, tm: 2, tn: 4 },
    });
    assert.match(k.code, /const N: u32 = 96u;/);
    assert.match(k.code, /@workgroup_size\(8, 8\)/);
    assert.deepEqual(k.workgroupSize, [8, 8, 1]);
    assert.match(k.code, /unpack2x16float/);
    assert.doesNotMatch(k.code, /enable f16/, "f16 storage needs no shader-f16 feature");
  });
  it("loads the scales of up to 8 quantised blocks at once", () => {
    const q8 = (k: number, scaleGroup?: number) =>
      gemvKernel({ dtype: "q8_0", n: 8, k, scaleGroup }).code;
    assert.match(q8(256, 8), /ws: array<vec4<u32>>/);
    assert.match(q8(128, 4), /ws: array<vec2<u32>>/);
    assert.match(q8(128, 2), /ws: array<u32>/);
    assert.match(q8(256), /ws: array<u32>/, "default: one block per chunk");
    assert.doesNotMatch(gemvKernel({ dtype: "q8_0", n: 8, k: 256 }).name, /\.g\d/);
    const lane = gemvKernel({
      dtype: "q4_0",
      n: 8,
      k: 256,
      strategy: "lane",
      rows: 2,
      scaleGroup: 8,
    });
    assert.equal(
      lane.code.match(/load_scales\(rw/g)?.length,
      2,
      "one scale load per row per chunk",
    );
    assert.equal(lane.params.g, 8);
  });
  it("refines quantised GEMV winners with blocks per scale load", () => {
    assert.equal(gemvCandidates("f32", 256), GEMV_CANDIDATES);
    const q = gemvCandidates("q4_0", 256);
    const wide = GEMV_WIDE_CANDIDATES.length;
    assert.equal(q.length, 2 * (GEMV_CANDIDATES.length - wide) + wide, "wide: no refinement");
    assert.deepEqual([...new Set(q.map((t) => t.g ?? 1))], [1, 8]);
    const piece = matmulPiece({ dtype: "q4_0", m: 1, n: 16, k: 256 });
    assert.equal(piece.candidates, GEMV_CANDIDATES, "blocks per scale load is a refinement");
    const [grouped] = piece.refine!(piece.candidates[3]);
    assert.deepEqual(grouped, { ...piece.candidates[3], g: 8 });
    assert.deepEqual(piece.refine!(grouped), [], "a refined tuning is not refined again");
    assert.match(piece.generate(grouped).name, /\.g8$/);
    assert.doesNotMatch(piece.generate(piece.candidates[0]).name, /\.g\d/);
    assert.equal(
      matmulPiece({ dtype: "f16", m: 1, n: 16, k: 256 }).refine!(GEMV_CANDIDATES[0]).length,
      0,
    );
    assert.equal(matmulPiece({ dtype: "q4_0", m: 32, n: 16, k: 256 }).refine, undefined, "GEMM");
    assert.equal(gemvCandidates("q8_0", 96), GEMV_CANDIDATES, "3 blocks: no group divides");
    assert.deepEqual(piece.refine!(GEMV_WIDE_CANDIDATES[0]), []);
  });
  it("batches tokens in buckets m > 1: default T, T as a refinement, names and grids", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 8, 9, 16].map(gemvDefaultTokens), [1, 2, 4, 4, 8, 8, 8, 8]);
    assert.equal(gemvBucketCandidates(1), GEMV_CANDIDATES, "m = 1: unchanged");
    const eight = gemvBucketCandidates(8);
    const lane: TuningConfig = eight.find((t) => t.lane)!;
    assert.equal(eight, gemvBucketCandidates(16), "one array per default T");
    assert.deepEqual(eight, GEMV_CANDIDATES.map((t) => ({ ...t, tokens: 8 })));
    const piece = matmulPiece({ dtype: "q4_0", m: 8, n: 16, k: 256 });
    assert.equal(piece.candidates, eight);
    const refined = piece.refine!(lane);
    assert.deepEqual(
      refined,
      [...[1, 2, 4].map((tokens) => ({ ...lane, tokens })), { ...lane, g: 8 }],
    );
    for (const r of refined) assert.deepEqual(piece.refine!(r), [], "refined once only");
    assert.deepEqual(
      matmulPiece({ dtype: "f32", m: 3, n: 16, k: 64 }).refine!(gemvBucketCandidates(3)[0]),
      [1, 2].map((tokens) => ({ ...gemvBucketCandidates(3)[0], tokens })),
    );
    assert.match(piece.generate(lane).name, /\.lane\.t8$/);
    assert.equal(gemvTuning(lane).tokens, 8);
    assert.equal(gemvTuning(GEMV_CANDIDATES[0]).tokens, 1);
    assert.deepEqual(gemvGrid({ n: 64, m: 5, tokens: 4 }), [64, 1, 2], "tail pass");
    // Only gemvKernel's own configurations batch tokens (another family's grid would not).
    assert.ok(GEMV_CANDIDATES.every(gemvBatchable));
    assert.equal(gemvBatchable({ wg: 64, rows: 1, lane: 0, int8: 1 }), false);
    // The same kernel serves any m: the count of tokens is a uniform, tails are guarded.
    const k = gemvKernel({ dtype: "q8_0", n: 8, k: 64, tokens: 4 });
    assert.match(k.code, /let mt3 = min\(m0 \+ 3u, params.m - 1u\);/);
    assert.equal(k.params.tokens, 4);
    assert.equal(gemvKernel({ dtype: "q8_0", n: 8, k: 64 }).params.tokens, undefined);
  });
  it("appends the wide candidates after the older ones", () => {
    assert.deepEqual(GEMV_CANDIDATES.slice(-GEMV_WIDE_CANDIDATES.length), GEMV_WIDE_CANDIDATES);
    assert.equal(GEMV_CANDIDATES.filter((t) => t.wide).length, GEMV_WIDE_CANDIDATES.length);
    for (const t of GEMV_WIDE_CANDIDATES) {
      const o = gemvTuning(t);
      assert.equal(o.strategy, "wide");
      // every candidate fits 16 KiB of workgroup memory even for the fused gate+up epilogue
      const k = gemvKernel({
        dtype: "q4_0",
        n: 64,
        k: 256,
        epilogue: { kind: "gate_up_silu" },
        ...o,
      });
      assert.match(k.name, /\.wide$/);
      assert.deepEqual(k.workgroupSize, [t.wg, 1, 1]);
      assert.equal(k.params.tpr, t.tpr);
    }
  });
  it("wide: quantised weights dequantise without int-to-float conversions", () => {
    const o = { strategy: "wide" as const, workgroupSize: 64, threadsPerRow: 16, rows: 2 };
    for (const dtype of ["q8_0", "q4_0"] as const) {
      const code = gemvKernel({ dtype, n: 8, k: 64, ...o }).code;
      assert.doesNotMatch(code, /vec4<f32>\(v|vec4<f32>\(\(vec4<i32>/, "no int→f32 conversion");
      assert.match(code, /bitcast<vec4<f32>>/);
    }
    // Unroll 2 × 16 invocations = 32 units per step: K = 160 f32 (40 units) has 1 step + tail.
    const f32 = gemvKernel({ dtype: "f32", n: 8, k: 160, ...o, unroll: 2 }).code;
    assert.match(f32, /base < 32u; base \+= 32u/);
    assert.match(f32, /for \(var u = 32u \+ t; u < CHUNKS; u \+= 16u\)/);
    assert.match(f32, /let x0 = load_x\(u1, mt0\);/, "x loaded once per unit for all rows");
    assert.equal(f32.match(/= load_x\(/g)?.length, 3, "2 unrolled units and the tail");
    assert.equal(f32.match(/= load_w\(/g)?.length, 2 * 3, "each unit decoded once per row");
    // 4 tokens per pass: x once per unit and token, the weights still once per unit and row.
    const t4 = gemvKernel({ dtype: "f32", n: 8, k: 160, ...o, unroll: 2, tokens: 4 }).code;
    assert.equal(t4.match(/= load_x\(/g)?.length, 4 * 3, "x once per unit and token");
    assert.equal(t4.match(/= load_w\(/g)?.length, 2 * 3, "weights once per unit and row");
  });
  it("selects the vectorised or scalar GEMV path by K", () => {
    assert.match(gemvKernel({ dtype: "f32", n: 8, k: 64 }).code, /array<vec4<f32>>/);
    assert.doesNotMatch(gemvKernel({ dtype: "f32", n: 8, k: 45 }).code, /vec4<f32>>/);
  });
  it("emits the fused epilogues", () => {
    assert.match(
      gemvKernel({ dtype: "f32", n: 24, k: 32, epilogue: { kind: "split3", sizes: [16, 4, 4] } })
        .code,
      /y2\[/,
    );
    assert.match(
      gemmKernel({ dtype: "f32", n: 8, k: 32, epilogue: { kind: "gate_up_silu" } }).code,
      /wt2/,
    );
  });
  it("rejects invalid shapes with RangeError", () => {
    assert.throws(() => gemvKernel({ dtype: "q8_0", n: 8, k: 40 }), RangeError);
    // Blocks per scale load: quantised only, a power of two ≤ 8 dividing K / 32.
    assert.throws(() => gemvKernel({ dtype: "q4_0", n: 8, k: 96, scaleGroup: 2 }), RangeError);
    assert.throws(() => gemvKernel({ dtype: "q4_0", n: 8, k: 512, scaleGroup: 16 }), RangeError);
    assert.throws(() => gemvKernel({ dtype: "f32", n: 8, k: 64, scaleGroup: 2 }), RangeError);
    assert.throws(() => gemvKernel({ dtype: "f32", n: 8, k: 32, workgroupSize: 48 }), RangeError);
    const wide = { strategy: "wide" as const, workgroupSize: 64, threadsPerRow: 16 };
    assert.throws(() => gemvKernel({ dtype: "f32", n: 8, k: 32, ...wide, threadsPerRow: 128 }));
    assert.throws(() => gemvKernel({ dtype: "f32", n: 8, k: 32, ...wide, threadsPerRow: 12 }));
    assert.throws(() => gemvKernel({ dtype: "q8_0", n: 8, k: 64, ...wide, scaleGroup: 2 }));
    assert.throws(() => gemvKernel({ dtype: "f32", n: 8, k: 32, ...wide, unroll: 0 }));
    // 2 × 16 sums × 256 invocations × 4 bytes > 16 KiB of workgroup memory
    assert.throws(
      () =>
        gemvKernel({
          dtype: "f32",
          n: 8,
          k: 32,
          ...wide,
          workgroupSize: 256,
          rows: 16,
          epilogue: { kind: "gate_up_silu" },
        }),
      RangeError,
    );
    assert.throws(
      () =>
        gemvKernel({ dtype: "f32", n: 8, k: 32, epilogue: { kind: "split3", sizes: [4, 4, 4] } }),
      RangeError,
    );
    assert.throws(
      () => gemmKernel({ dtype: "f32", n: 8, k: 32, tile: { bm: 10, bn: 8, bk: 4, tm: 4, tn: 2 } }),
      RangeError,
    );
    assert.throws(
      () => attentionSplitKernel({ heads: 6, kvHeads: 4, headDim: 8, blockSize: 4, maxBlocks: 2 }),
      RangeError,
    );
    assert.throws(
      () => ropeKernel({ heads: 1, headDim: 8, rotaryDim: 7, theta: 1e4, mode: "neox" }),
      RangeError,
    );
    const long = { heads: 2, kvHeads: 1, headDim: 8, blockSize: 16, maxBlocks: 5, split: 64 };
    assert.throws(() => attentionSplitKernel({ ...long, fuseMerge: true }), RangeError);
  });
  it("fused attention writes the normalised output", () => {
    const g = { heads: 2, kvHeads: 1, headDim: 8, blockSize: 16, maxBlocks: 4, split: 64 };
    const fused = attentionSplitKernel({ ...g, fuseMerge: true }).code;
    assert.match(fused, /partial\[out \* D \+ i\] = acc \/ l;/);
    assert.doesNotMatch(attentionSplitKernel(g).code, /acc \/ l/);
  });
  it("paged KV append computes slots from the block table", () => {
    const code = kvAppendKernel({ kvHeads: 2, headDim: 8, paged: { blockSize: 5, maxBlocks: 3 } })
      .code;
    assert.match(code, /blockTable\[tokenSeq\[t\] \* 3u \+ pos \/ 5u\] \* 5u \+ pos % 5u/);
    assert.doesNotMatch(kvAppendKernel({ kvHeads: 2, headDim: 8 }).code, /blockTable/);
  });
  it("uses the requested RoPE pairing", () => {
    assert.match(
      ropeKernel({ heads: 1, headDim: 8, theta: 1e4, mode: "neox" }).code,
      /let i1 = i \+ 4u;/,
    );
    assert.match(
      ropeKernel({ heads: 1, headDim: 8, theta: 1e4, mode: "interleaved" }).code,
      /let i1 = 2u \* i \+ 1u;/,
    );
  });
  it("computes grids", () => {
    assert.deepEqual(gemvGrid({ n: 100, rows: 4, m: 3 }), [25, 1, 3]);
    // wide: 128 / 32 = 4 row groups × 2 rows = 8 rows per workgroup
    assert.deepEqual(
      gemvGrid({ n: 100, rows: 2, m: 3, strategy: "wide", workgroupSize: 128, threadsPerRow: 32 }),
      [13, 1, 3],
    );
    assert.deepEqual(gemmGrid({ n: 100, m: 33, tile: { bm: 32, bn: 32, bk: 8, tm: 4, tn: 4 } }), [
      4,
      2,
      1,
    ]);
    const [x, y] = grid2d(152_000);
    assert.ok(x <= 65535 && x * y >= 152_000);
    assert.equal(
      attentionSplits({ heads: 1, kvHeads: 1, headDim: 8, blockSize: 16, maxBlocks: 9, split: 64 }),
      3,
    );
  });
  it("declares dtype-specific weight loaders", () => {
    assert.match(weightBindings("q4_0", 2, 3), /select\(0u, 4u, e >= 16u\)/);
    assert.match(weightBindings("q8_0", 2, 3), /extractBits/);
    assert.match(
      rmsnormKernel({ dim: 8, eps: 1e-6, fusedResidual: true }).code,
      /residual\[base \+ i\] = h/,
    );
  });
});

describe("host number formats (no device)", () => {
  it("rounds f16 to nearest even and decodes it", () => {
    assert.equal(f32ToF16Bits(1), 0x3c00);
    assert.equal(f32ToF16Bits(-2), 0xc000);
    assert.equal(f32ToF16Bits(65504), 0x7bff);
    assert.equal(f32ToF16Bits(1e6), 0x7c00);
    assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00, "tie rounds to even");
    assert.equal(f16BitsToF32(0x0001), 2 ** -24);
    for (const v of randomFloats(200, 5, 100)) {
      assert.ok(Math.abs(f16BitsToF32(f32ToF16Bits(v)) - v) <= Math.abs(v) * 2 ** -11);
    }
  });
  it("quantises Q8_0 and Q4_0 in the GGML layout", () => {
    const x = Float32Array.from({ length: 32 }, (_, i) => i - 16);
    const q8 = quantizeQ8_0(x);
    assert.equal(q8.length, 34);
    assert.equal(
      new DataView(q8.buffer).getInt8(2),
      -127,
      "element 0 = -16 → -127 at scale 16/127",
    );
    const q4 = quantizeQ4_0(x);
    assert.equal(q4.length, 18);
    assert.equal(q4[2] & 0xf, 0, "element 0 (= -max) is nibble 0");
    assert.equal(q4[2] >> 4, 8, "element 16 (= 0) is nibble 8, in the high half of byte 0");
    const d8 = dequantize("q8_0", q8, 32), d4 = dequantize("q4_0", q4, 32);
    for (let i = 0; i < 32; i++) {
      assert.ok(Math.abs(d8[i] - x[i]) <= 16 / 127 / 2 + 1e-3);
      assert.ok(Math.abs(d4[i] - x[i]) <= 1 + 1e-2);
    }
  });
  it("repacks blocks into aligned words and packed scales", () => {
    const x = randomFloats(96, 3);
    const blocks = quantizeQ8_0(x);
    const { words, scales } = repackBlocks("q8_0", blocks, 96);
    assert.equal(words.length, 3 * 8);
    assert.equal(scales.length, 2, "3 scales padded to 4 halves");
    assert.equal(words[8] & 0xff, blocks[34 + 2]);
    assert.equal(scales[0] >>> 16, blocks[34] | (blocks[35] << 8));
    assert.throws(() => repackBlocks("q4_0", new Uint8Array(10), 32), RangeError);
  });
  it("packs and concatenates host weights", () => {
    const a = hostWeightFromF32("f16", randomFloats(3 * 5, 1), [3, 5]);
    assert.equal(packWeight(a).data.length, 8, "15 halves padded to 16");
    const q = concatWeightRows([
      hostWeightFromF32("q4_0", randomFloats(64, 1), [2, 32]),
      hostWeightFromF32("q4_0", randomFloats(32, 2), [1, 32]),
    ]);
    assert.deepEqual(q.shape, [3, 32]);
    assert.equal(q.data.length, 3 * 18);
  });
  it("hashes content stably", async () => {
    assert.equal(
      stableStringify({ b: 1, a: [2, { d: 3, c: 4 }] }),
      '{"a":[2,{"c":4,"d":3}],"b":1}',
    );
    assert.equal(
      await sha256Hex("abc"),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    assert.notEqual(fnv1aHex("abc"), fnv1aHex("abd"));
  });
});
