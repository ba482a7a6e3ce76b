/**
 * The int8-activation GEMV (`quantize_rows.ts` then `gemv_i8.ts`) against CPU references, for
 * Q8_0 and Q4_0, every epilogue, bias, m > 1 and odd shapes, and every autotuner candidate:
 *
 * 1. Quantisation: the kernel's int8 values equal ggml's `quantize_row_q8_1` rounding (CPU
 *    reference) except by ±1 where `x · id` is within 1e-3 of a half (the GPU's `1 / d` may
 *    differ from the CPU's by an ulp); exact halves round away from zero; `d` matches to 2^-20
 *    relative; the block sums are the sums of the kernel's own int8 values.
 * 2. The GEMV on the kernel's own quantised x equals the f64 integer-dot reference
 *    `Σ_b dw·dx·Σ qw·qx` up to f32 accumulation: |gpu − ref| ≤ 1e-5·K + 1e-4·|ref|.
 * 3. The whole path against float64 dequantised W × f32 x within the derived bound: per block
 *    `|x_i − dx·qx_i| ≤ dx/2` (plus f32 rounding of `id`, < 1e-4·dx), so
 *    `|y − ref| ≤ Σ_b 1.001·(dx_b / 2)·Σ_{i∈b} |w_i| + 2^-20·K·Σ_i |w_i|·(|x_i| + dx_b)` (the
 *    second term bounds the f32 accumulation); for gate+up SiLU the bound propagates through
 *    `silu(g)·u` with |silu'| ≤ 1.1.
 * 4. Exactness: integer x with max 127 per block quantises exactly (d = 1), so every Q8_0 byte
 *    and Q4_0 nibble value gives the exact integer dot (tolerance 0).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice, assertClose, randomFloats } from "./_device.ts";
import { KernelHarness } from "./_kernel_harness.ts";
import { gemvGrid, type MatmulEpilogue } from "../../src/gpu/kernels/gemv.ts";
import { gemvI8Kernel } from "../../src/gpu/kernels/gemv_i8.ts";
import {
  quantizedRowBytes,
  quantizedScaleBytes,
  quantizeRowsGrid,
  quantizeRowsKernel,
} from "../../src/gpu/kernels/quantize_rows.ts";
import {
  dequantizeWeight,
  type HostWeight,
  hostWeightFromF32,
} from "../../src/gpu/kernels/host_weight.ts";
import {
  gemvI8Ref,
  quantizeRowsRef,
  weightBlocksRef,
} from "../../src/gpu/reference/quantize_rows.ts";
import { silu } from "../../src/gpu/reference/dense.ts";
import { GEMV_I8_CANDIDATES } from "../../src/gpu/compile/gemv_i8_tuning.ts";

const device = await acquireTestDevice();
const skip = device.skip ||
  (device.context!.wgslFeatures.has("packed_4x8_integer_dot_product")
    ? false
    : "the device's WGSL lacks packed_4x8_integer_dot_product");
type Q = "q8_0" | "q4_0";
interface Shape {
  wg: number;
  tpr: number;
  rows: number;
  unroll: number;
}

/** Runs quantise + GEMV; returns the outputs (as one [m, n] array) and the quantised x. */
async function run(
  w: HostWeight,
  x: Float32Array,
  m: number,
  n: number,
  shape: Shape,
  opts: { bias?: Float32Array; epilogue?: MatmulEpilogue },
) {
  const h = new KernelHarness(device.context!);
  try {
    const k = w.shape[1], epilogue = opts.epilogue ?? { kind: "store" };
    const kernel = gemvI8Kernel({
      dtype: w.dtype as Q,
      n,
      k,
      bias: Boolean(opts.bias),
      epilogue,
      workgroupSize: shape.wg,
      threadsPerRow: shape.tpr,
      rows: shape.rows,
      unroll: shape.unroll,
    });
    const sizes = epilogue.kind === "split3" ? epilogue.sizes : [n];
    const outs = sizes.map((s) => h.buf(m * s * 4));
    const uni = h.uni([m]), xq = h.buf(quantizedRowBytes(m, k));
    const xd = h.buf(quantizedScaleBytes(m, k));
    const bindings: Record<number, GPUBuffer> = {
      0: uni,
      1: xq,
      ...h.weight(w),
      4: outs[0],
      8: xd,
    };
    if (opts.bias) bindings[5] = h.buf(opts.bias);
    if (outs.length === 3) [bindings[6], bindings[7]] = [outs[1], outs[2]];
    await h.run([
      {
        kernel: quantizeRowsKernel({ k }),
        bindings: { 0: uni, 1: h.buf(x), 2: xq, 3: xd },
        grid: quantizeRowsGrid(k, m),
      },
      {
        kernel,
        bindings,
        grid: gemvGrid({
          n,
          m,
          strategy: "wide",
          rows: shape.rows,
          workgroupSize: shape.wg,
          threadsPerRow: shape.tpr,
        }),
      },
    ]);
    const y = new Float32Array(m * n);
    let col = 0;
    for (let o = 0; o < outs.length; o++) {
      const part = await h.f32(outs[o], m * sizes[o]);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < sizes[o]; j++) y[i * n + col + j] = part[i * sizes[o] + j];
      }
      col += sizes[o];
    }
    const q = new Int8Array((await h.u32(xq, (m * k) / 4)).buffer);
    const dsum = await h.f32(xd, (m * k) / 16);
    const d = dsum.filter((_, i) => i % 2 === 0),
      sum = Int32Array.from(dsum.filter((_, i) => i % 2));
    return { y, rows: { q, d, sum } };
  } finally {
    h.dispose();
  }
}

/** Applies an epilogue to full rows `[m, wRows]` (f64) and adds bias. */
function finish(full: Float64Array, m: number, n: number, paired: boolean, bias?: Float32Array) {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      out[i * n + j] = paired
        ? silu(full[i * 2 * n + j]) * full[i * 2 * n + n + j]
        : full[i * n + j] + (bias ? bias[j] : 0);
    }
  }
  return out;
}

async function check(
  dtype: Q,
  m: number,
  n: number,
  k: number,
  shape: Shape,
  opts: { bias?: boolean; epilogue?: MatmulEpilogue; scale?: number } = {},
) {
  const paired = opts.epilogue?.kind === "gate_up_silu";
  const wRows = paired ? 2 * n : n;
  const w = hostWeightFromF32(dtype, randomFloats(wRows * k, 5 + n + k), [wRows, k]);
  // Uneven magnitudes per block, so block scales differ.
  const x = randomFloats(m * k, 11 + m, opts.scale ?? 1).map((v, i) => v * (1 + ((i >> 5) % 5)));
  const bias = opts.bias ? randomFloats(n, 17) : undefined;
  const { y, rows } = await run(w, x, m, n, shape, { bias, epilogue: opts.epilogue });
  const name = `${dtype} m${m} n${n} k${k} ${opts.epilogue?.kind ?? "store"}`;
  // 1. the quantisation
  const want = quantizeRowsRef(x, k);
  for (let i = 0; i < x.length; i++) {
    const diff = Math.abs(rows.q[i] - want.q[i]);
    const v = Math.abs(Math.fround(x[i] * (1 / want.d[i >> 5])));
    const nearHalf = Math.abs(v - Math.floor(v) - 0.5) < 1e-3;
    assert.ok(
      diff === 0 || (diff === 1 && nearHalf),
      `${name}: q[${i}] ${rows.q[i]} vs ${want.q[i]}`,
    );
  }
  assertClose(rows.d, want.d, { abs: 0, rel: 2 ** -20 }, `${name}: d`);
  for (let b = 0; b < rows.sum.length; b++) {
    const s = rows.q.subarray(b * 32, b * 32 + 32).reduce((a, v) => a + v, 0);
    assert.equal(rows.sum[b], s, `${name}: block sum ${b}`);
  }
  // 2. the GEMV on the kernel's own quantised x
  const wInts = weightBlocksRef(dtype, w.data as Uint8Array, wRows * k);
  const exact = finish(gemvI8Ref(rows, wInts, { m, n: wRows, k }), m, n, paired, bias);
  assertClose(y, exact, { abs: 1e-5 * k, rel: 1e-4 }, `${name}: vs integer-dot reference`);
  // 3. the stated bound against f64 dequantised W × f32 x
  const wf = dequantizeWeight(w);
  const ref = new Float64Array(m * wRows), bound = new Float64Array(m * wRows);
  for (let i = 0; i < m; i++) {
    for (let r = 0; r < wRows; r++) {
      let s = 0, quant = 0, acc = 0;
      for (let p = 0; p < k; p++) {
        const wv = wf[r * k + p], xv = x[i * k + p], dx = want.d[(i * k + p) >> 5];
        s += wv * xv;
        quant += 1.001 * (dx / 2) * Math.abs(wv);
        acc += Math.abs(wv) * (Math.abs(xv) + dx);
      }
      ref[i * wRows + r] = s;
      bound[i * wRows + r] = quant + 2 ** -20 * k * acc;
    }
  }
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let expected: number, tol: number;
      if (paired) {
        const g = ref[i * wRows + j], u = ref[i * wRows + n + j];
        const bg = bound[i * wRows + j], bu = bound[i * wRows + n + j];
        expected = silu(g) * u;
        tol = 1.1 * bg * (Math.abs(u) + bu) + (Math.abs(silu(g)) + 1.1 * bg) * bu;
      } else {
        expected = ref[i * wRows + j] + (bias ? bias[j] : 0);
        tol = bound[i * wRows + j] + 1e-6 * Math.abs(expected);
      }
      const err = Math.abs(y[i * n + j] - expected);
      assert.ok(
        err <= tol,
        `${name}: y[${i}, ${j}] ${y[i * n + j]} vs ${expected}: |Δ| ${err} > ${tol}`,
      );
    }
  }
}

describe("int8-activation GEMV vs cpu references", { skip }, () => {
  for (const dtype of ["q8_0", "q4_0"] as const) {
    it(`${dtype}: n=37 k=256 m=1, 16 per row group × 3 rows, unroll 2`, () =>
      check(dtype, 1, 37, 256, { wg: 64, tpr: 16, rows: 3, unroll: 2 }));
    it(`${dtype}: n=19 k=160 m=3 with bias (tail only, grid z = m)`, () =>
      check(dtype, 3, 19, 160, { wg: 32, tpr: 32, rows: 2, unroll: 4 }, { bias: true }));
    it(`${dtype}: n=5 k=96 m=2, rows past N`, () =>
      check(dtype, 2, 5, 96, { wg: 128, tpr: 32, rows: 8, unroll: 1 }));
    it(`${dtype}: fused QKV split3 with bias, m=2`, () =>
      check(dtype, 2, 24, 128, { wg: 64, tpr: 16, rows: 2, unroll: 2 }, {
        bias: true,
        epilogue: { kind: "split3", sizes: [16, 4, 4] },
      }));
    it(`${dtype}: fused gate+up SiLU, m=2`, () =>
      check(dtype, 2, 21, 128, { wg: 64, tpr: 32, rows: 4, unroll: 2 }, {
        epilogue: { kind: "gate_up_silu" },
      }));
    it(`${dtype}: one invocation per row (tpr 1), k=1024, small activations`, () =>
      check(dtype, 1, 33, 1024, { wg: 32, tpr: 1, rows: 2, unroll: 1 }, { scale: 1e-3 }));
    for (const t of GEMV_I8_CANDIDATES) {
      it(`${dtype}: candidate wg ${t.wg} tpr ${t.tpr} rows ${t.rows} unroll ${t.unroll}, n=70 k=2048`, () =>
        check(dtype, 1, 70, 2048, t as unknown as Shape));
    }
  }
});

describe("int8-activation quantisation and dot products are exact on integers", { skip }, () => {
  const k = 256, m = 2, F16_ONE = [0x00, 0x3c];
  // Integers in [-127, 127] with ±127 in every block: d = 1, id = 1, q = x exactly.
  const x = Float32Array.from(
    { length: m * k },
    (_, i) => i % 32 === 7 ? (i % 64 === 7 ? 127 : -127) : ((i * 37) % 255) - 127,
  );
  x[40] = 2.5, x[41] = -3.5, x[42] = 0.5, x[43] = -0.5; // halves: away from zero
  for (const dtype of ["q8_0", "q4_0"] as const) {
    it(`${dtype}: every ${dtype === "q8_0" ? "byte" : "nibble"} value, ties away from zero`, async () => {
      const rows = 3, size = dtype === "q8_0" ? 34 : 18, blocks = (rows * k) / 32;
      const data = new Uint8Array(blocks * size);
      for (let b = 0; b < blocks; b++) {
        data.set(F16_ONE, b * size);
        for (let i = 0; i < size - 2; i++) {
          data[b * size + 2 + i] = (b * 32 + i * 37 + b * 11) & 255;
        }
      }
      const w: HostWeight = { dtype, shape: [rows, k], data };
      const { y, rows: q } = await run(w, x, m, rows, { wg: 64, tpr: 8, rows: 2, unroll: 2 }, {});
      assert.deepEqual([...q.q.subarray(40, 44)], [3, -4, 1, -1]);
      assert.ok(q.d.every((d) => d === 1), "d = 1 in every block");
      const wInts = weightBlocksRef(dtype, data, rows * k);
      const want = new Float32Array(m * rows);
      for (let i = 0; i < m; i++) {
        for (let r = 0; r < rows; r++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += wInts.q[r * k + p] * q.q[i * k + p];
          want[i * rows + r] = s;
        }
      }
      assertClose(y, want, { abs: 0, rel: 0 }, `${dtype} exact`);
    });
  }
});
