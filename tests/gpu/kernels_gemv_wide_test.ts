/**
 * The `wide` GEMV strategy (row groups striding K in 16-byte units, conversion-free
 * dequantisation) versus the CPU reference, for every weight dtype, odd shapes (partial row
 * groups, rows past N, K tails shorter than a step, scalar float units), tokens m > 1, bias,
 * and the fused epilogues; every autotuner candidate of the strategy at a larger shape; and
 * exactness of the bit-field dequantisation for every Q4_0 nibble and Q8_0 byte value.
 *
 * Tolerance as in kernels_matmul_test.ts: the reference multiplies the dequantised weights, so
 * only accumulation order differs: |gpu − ref| ≤ 1e-5·K + 1e-4·|ref|.
 */
import { describe, it } from "node:test";
import { acquireTestDevice, assertClose, randomFloats } from "./_device.ts";
import { KernelHarness } from "./_kernel_harness.ts";
import { gemvGrid, gemvKernel, type MatmulEpilogue } from "../../src/gpu/kernels/gemv.ts";
import {
  dequantizeWeight,
  type HostWeight,
  hostWeightFromF32,
} from "../../src/gpu/kernels/host_weight.ts";
import { matmulRef, silu } from "../../src/gpu/reference/dense.ts";
import type { WeightDType } from "../../src/gpu/kernels/kernel_source.ts";
import { GEMV_WIDE_CANDIDATES, gemvTuning } from "../../src/gpu/compile/kernel_piece.ts";

const device = await acquireTestDevice();
const skip = device.skip;
const DTYPES: WeightDType[] = ["f32", "f16", "q8_0", "q4_0"];

interface Wide {
  wg: number;
  tpr: number;
  rows: number;
  unroll: number;
}

/** Expected y for `w` (host weight, `[wRows, k]`) under an epilogue, from the f32 reference. */
function reference(
  w: HostWeight,
  x: Float32Array,
  m: number,
  n: number,
  epilogue: MatmulEpilogue,
  bias?: Float32Array,
): Float32Array {
  const k = w.shape[1];
  const full = matmulRef(x, dequantizeWeight(w), { m, n: w.shape[0], k }, bias);
  if (epilogue.kind !== "gate_up_silu") return full;
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      out[i * n + j] = silu(full[i * 2 * n + j]) * full[i * 2 * n + n + j];
    }
  }
  return out;
}

async function check(
  dtype: WeightDType,
  m: number,
  n: number,
  k: number,
  wide: Wide,
  opts: {
    bias?: boolean;
    epilogue?: MatmulEpilogue;
    weight?: HostWeight;
    x?: Float32Array;
    exact?: boolean;
  } = {},
) {
  const h = new KernelHarness(device.context!);
  try {
    const epilogue = opts.epilogue ?? { kind: "store" };
    const wRows = epilogue.kind === "gate_up_silu" ? 2 * n : n;
    const w = opts.weight ??
      hostWeightFromF32(dtype, randomFloats(wRows * k, 3 + n + k), [wRows, k]);
    const x = opts.x ?? randomFloats(m * k, 9 + m);
    const bias = opts.bias ? randomFloats(n, 13) : undefined;
    const expected = reference(w, x, m, n, epilogue, bias);
    const o = {
      strategy: "wide" as const,
      workgroupSize: wide.wg,
      threadsPerRow: wide.tpr,
      rows: wide.rows,
      unroll: wide.unroll,
    };
    const kernel = gemvKernel({ dtype, n, k, bias: opts.bias, epilogue, ...o });
    const sizes = epilogue.kind === "split3" ? epilogue.sizes : [n, 0, 0];
    const outs = sizes.map((s) => h.buf(Math.max(4, m * s * 4)));
    const bindings: Record<number, GPUBuffer> = {
      0: h.uni([m]),
      1: h.buf(x),
      ...h.weight(w),
      4: outs[0],
    };
    if (bias) bindings[5] = h.buf(bias);
    if (epilogue.kind === "split3") [bindings[6], bindings[7]] = [outs[1], outs[2]];
    await h.run([{ kernel, bindings, grid: gemvGrid({ n, m, ...o }) }]);
    const tol = opts.exact ? { abs: 0, rel: 0 } : { abs: 1e-5 * k, rel: 1e-4 };
    let col = 0;
    for (let out = 0; out < (epilogue.kind === "split3" ? 3 : 1); out++) {
      const want = new Float32Array(m * sizes[out]);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < sizes[out]; j++) want[i * sizes[out] + j] = expected[i * n + col + j];
      }
      assertClose(await h.f32(outs[out], want.length), want, tol, `${kernel.name} output ${out}`);
      col += sizes[out];
    }
  } finally {
    h.dispose();
  }
}

describe("gemv wide strategy vs cpu reference", { skip }, () => {
  for (const dtype of DTYPES) {
    // 37 rows over 4 groups × 3 rows: a partial last workgroup; K = 256 gives whole steps.
    it(`${dtype}: n=37 k=256 m=1, 64 invocations, 16 per row group × 3 rows, unroll 2`, () =>
      check(dtype, 1, 37, 256, { wg: 64, tpr: 16, rows: 3, unroll: 2 }));
    // A step of 32 × 4 units exceeds every row's units: only the tail loop runs.
    it(`${dtype}: n=19 k=160 m=3 with bias, 32 per group, unroll 4 (tail only)`, () =>
      check(dtype, 3, 19, 160, { wg: 32, tpr: 32, rows: 2, unroll: 4 }, { bias: true }));
    // 8 rows per group with n = 5: rows past N are clamped on load and skipped on store.
    it(`${dtype}: n=5 k=96 m=2, 4 groups of 32 × 8 rows`, () =>
      check(dtype, 2, 5, 96, { wg: 128, tpr: 32, rows: 8, unroll: 1 }));
    // 3 steps of 8 × 2 units plus a tail of 8 units (f32: 120 units of 4 values).
    it(`${dtype}: n=11 k=480 m=1, main loop and tail, 8 per group`, () =>
      check(dtype, 1, 11, 480, { wg: 32, tpr: 8, rows: 1, unroll: 2 }));
  }
  it("f32: odd k=45 (scalar units)", () =>
    check("f32", 2, 13, 45, { wg: 64, tpr: 16, rows: 2, unroll: 2 }));
  it("f16: odd k=45 (scalar units) and k=44 (4-value units)", async () => {
    await check("f16", 1, 13, 45, { wg: 64, tpr: 16, rows: 2, unroll: 2 });
    await check("f16", 2, 13, 44, { wg: 32, tpr: 32, rows: 3, unroll: 1 });
  });
  for (const dtype of ["f32", "q8_0", "q4_0"] as const) {
    it(`${dtype}: fused QKV split3 with bias`, () =>
      check(dtype, 1, 24, 128, { wg: 64, tpr: 16, rows: 2, unroll: 2 }, {
        bias: true,
        epilogue: { kind: "split3", sizes: [16, 4, 4] },
      }));
  }
  for (const dtype of DTYPES) {
    it(`${dtype}: fused gate+up SiLU, m=2`, () =>
      check(dtype, 2, 21, 128, { wg: 64, tpr: 32, rows: 4, unroll: 2 }, {
        epilogue: { kind: "gate_up_silu" },
      }));
  }
  for (const t of GEMV_WIDE_CANDIDATES) {
    const o = gemvTuning(t);
    const wide = { wg: o.workgroupSize, tpr: o.threadsPerRow!, rows: o.rows, unroll: o.unroll! };
    for (const dtype of DTYPES) {
      it(`candidate wg ${t.wg} tpr ${t.tpr} rows ${t.rows} unroll ${t.unroll}: ${dtype} n=70 k=2048`, () =>
        check(dtype, 1, 70, 2048, wide));
    }
  }
  it("fused gate+up with 8 rows in 256 invocations fills exactly 16 KiB of workgroup memory", () =>
    check("q4_0", 1, 40, 512, { wg: 256, tpr: 32, rows: 8, unroll: 1 }, {
      epilogue: { kind: "gate_up_silu" },
    }));
});

describe("gemv wide dequantisation is exact", { skip }, () => {
  // Scale 1 and small integer x: every product and partial sum is an exactly representable
  // integer, so any wrong bit field, offset or x pre-scale shows as a non-zero difference.
  const x = Float32Array.from({ length: 2 * 256 }, (_, i) => ((i * 5) % 7) - 3);
  const F16_ONE = [0x00, 0x3c];
  it("q8_0: every byte value -128..127 at every position", async () => {
    const rows = 3, k = 256, blocks = (rows * k) / 32;
    const data = new Uint8Array(blocks * 34);
    for (let b = 0; b < blocks; b++) {
      data.set(F16_ONE, b * 34);
      for (let i = 0; i < 32; i++) data[b * 34 + 2 + i] = (b * 32 + i * 37 + b * 11) & 255;
    }
    const weight: HostWeight = { dtype: "q8_0", shape: [rows, k], data };
    await check("q8_0", 2, rows, k, { wg: 64, tpr: 8, rows: 2, unroll: 2 }, {
      weight,
      x,
      exact: true,
    });
  });
  it("q4_0: every nibble value 0..15 at every position", async () => {
    const rows = 3, k = 256, blocks = (rows * k) / 32;
    const data = new Uint8Array(blocks * 18);
    for (let b = 0; b < blocks; b++) {
      data.set(F16_ONE, b * 18);
      for (let i = 0; i < 16; i++) data[b * 18 + 2 + i] = (b * 16 + i * 23 + b * 5) & 255;
    }
    const weight: HostWeight = { dtype: "q4_0", shape: [rows, k], data };
    await check("q4_0", 2, rows, k, { wg: 64, tpr: 8, rows: 2, unroll: 2 }, {
      weight,
      x,
      exact: true,
    });
  });
});
