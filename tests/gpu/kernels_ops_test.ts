/**
 * Non-matmul kernels versus the CPU reference: RMSNorm (plain and fused residual), RoPE (both
 * pairings), residual add, SiLU-gated product, softmax, embedding gather (all dtypes).
 *
 * Tolerances: element-wise and norms |gpu − ref| ≤ 1e-5 + 1e-4·|ref|; RoPE ≤ 2e-4 + 1e-4·|ref|
 * (f32 angle for positions < 512); embeddings are exact copies of the dequantised table.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice, assertClose, randomFloats } from "./_device.ts";
import { KernelHarness } from "./_kernel_harness.ts";
import { rmsnormKernel, rowGrid } from "../../src/gpu/kernels/rmsnorm.ts";
import { ropeGrid, ropeKernel } from "../../src/gpu/kernels/rope.ts";
import { elementwiseGrid, elementwiseKernel } from "../../src/gpu/kernels/elementwise.ts";
import { softmaxKernel } from "../../src/gpu/kernels/softmax.ts";
import { embeddingGrid, embeddingKernel } from "../../src/gpu/kernels/embedding.ts";
import {
  addRef,
  embeddingRef,
  rmsnormRef,
  siluMulRef,
  softmaxRef,
} from "../../src/gpu/reference/dense.ts";
import { ropeRef } from "../../src/gpu/reference/attention.ts";
import { dequantizeWeight, hostWeightFromF32 } from "../../src/gpu/kernels/host_weight.ts";

const device = await acquireTestDevice();
const skip = device.skip;
const TOL = { abs: 1e-5, rel: 1e-4 };

async function withHarness(fn: (h: KernelHarness) => Promise<void>): Promise<void> {
  const h = new KernelHarness(device.context!);
  try {
    await fn(h);
  } finally {
    h.dispose();
  }
}

describe("normalisation and element-wise kernels", { skip }, () => {
  for (const [rows, dim] of [[1, 64], [5, 97], [3, 300]]) {
    it(`rmsnorm rows=${rows} dim=${dim}`, () =>
      withHarness(async (h) => {
        const x = randomFloats(rows * dim, rows + dim), w = randomFloats(dim, 9);
        const y = h.buf(x.byteLength);
        await h.run([{
          kernel: rmsnormKernel({ dim, eps: 1e-5 }),
          bindings: { 0: h.uni([rows]), 1: h.buf(x), 2: h.buf(w), 3: y },
          grid: rowGrid(rows),
        }]);
        assertClose(await h.f32(y, x.length), rmsnormRef(x, w, dim, 1e-5), TOL, "rmsnorm");
      }));
  }
  it("fused residual add + rmsnorm updates the residual and normalises it", () =>
    withHarness(async (h) => {
      const rows = 3, dim = 80;
      const x = randomFloats(rows * dim, 1),
        r = randomFloats(rows * dim, 2),
        w = randomFloats(dim, 3);
      const res = h.buf(r), y = h.buf(x.byteLength);
      await h.run([{
        kernel: rmsnormKernel({ dim, eps: 1e-6, fusedResidual: true, workgroupSize: 32 }),
        bindings: { 0: h.uni([rows]), 1: h.buf(x), 2: h.buf(w), 3: y, 4: res },
        grid: rowGrid(rows),
      }]);
      const sum = addRef(r, x);
      assertClose(await h.f32(res, sum.length), sum, TOL, "residual");
      assertClose(await h.f32(y, sum.length), rmsnormRef(sum, w, dim, 1e-6), TOL, "normed");
    }));
  for (const op of ["add", "silu_mul"] as const) {
    it(`${op} over 1000 elements (not a workgroup multiple)`, () =>
      withHarness(async (h) => {
        const a = randomFloats(1000, 4, 5), b = randomFloats(1000, 5, 5);
        const out = h.buf(a.byteLength);
        await h.run([{
          kernel: elementwiseKernel(op),
          bindings: { 0: h.uni([1000]), 1: h.buf(a), 2: h.buf(b), 3: out },
          grid: elementwiseGrid(1000),
        }]);
        assertClose(
          await h.f32(out, 1000),
          op === "add" ? addRef(a, b) : siluMulRef(a, b),
          TOL,
          op,
        );
      }));
  }
  for (const [rows, cols] of [[2, 10], [4, 1001]]) {
    it(`softmax rows=${rows} cols=${cols}`, () =>
      withHarness(async (h) => {
        const x = randomFloats(rows * cols, cols, 8);
        const y = h.buf(x.byteLength);
        await h.run([{
          kernel: softmaxKernel({ cols }),
          bindings: { 0: h.uni([rows]), 1: h.buf(x), 2: y },
          grid: rowGrid(rows),
        }]);
        const got = await h.f32(y, x.length);
        assertClose(got, softmaxRef(x, cols), { abs: 1e-6, rel: 1e-4 }, "softmax");
        assert.ok(Math.abs(got.subarray(0, cols).reduce((s, v) => s + v, 0) - 1) < 1e-4);
      }));
  }
});

describe("rope kernel", { skip }, () => {
  for (const mode of ["interleaved", "neox"] as const) {
    for (const [heads, headDim, rotaryDim] of [[3, 16, 16], [2, 24, 16]]) {
      it(`${mode}: heads=${heads} headDim=${headDim} rotary=${rotaryDim}`, () =>
        withHarness(async (h) => {
          const tokens = 5;
          const x = randomFloats(tokens * heads * headDim, heads * headDim);
          const positions = new Uint32Array([0, 1, 7, 130, 511]);
          const geometry = { heads, headDim, rotaryDim, theta: 10000, mode };
          const buf = h.buf(x);
          await h.run([{
            kernel: ropeKernel(geometry),
            bindings: { 0: h.uni([tokens]), 1: buf, 2: h.buf(positions) },
            grid: ropeGrid(tokens, heads, rotaryDim),
          }]);
          const want = x.slice();
          ropeRef(want, positions, geometry);
          assertClose(await h.f32(buf, x.length), want, { abs: 2e-4, rel: 1e-4 }, `rope ${mode}`);
        }));
    }
  }
  it("the two pairings differ (a test of the test)", () => {
    const x = randomFloats(16, 1);
    const a = x.slice(), b = x.slice();
    ropeRef(a, new Uint32Array([3]), { heads: 1, headDim: 16, theta: 10000, mode: "neox" });
    ropeRef(b, new Uint32Array([3]), { heads: 1, headDim: 16, theta: 10000, mode: "interleaved" });
    assert.notDeepEqual(a, b);
  });
});

describe("embedding gather", { skip }, () => {
  for (const dtype of ["f32", "f16", "q8_0", "q4_0"] as const) {
    it(`${dtype} table 50×64, 6 tokens`, () =>
      withHarness(async (h) => {
        const vocab = 50, dim = 64;
        const table = hostWeightFromF32(dtype, randomFloats(vocab * dim, 21), [vocab, dim]);
        const ids = new Uint32Array([0, 49, 7, 7, 13, 31]);
        const out = h.buf(ids.length * dim * 4);
        const w = h.weight(table);
        await h.run([{
          kernel: embeddingKernel({ dtype, dim }),
          bindings: { 0: h.uni([ids.length]), 1: h.buf(ids), ...w, 4: out },
          grid: embeddingGrid(dim, ids.length),
        }]);
        assertClose(
          await h.f32(out, ids.length * dim),
          embeddingRef(dequantizeWeight(table), ids, dim),
          { abs: 1e-7, rel: 1e-6 },
          "embedding",
        );
      }));
  }
});
