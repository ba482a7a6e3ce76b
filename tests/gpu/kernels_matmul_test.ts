/**
 * GEMV and GEMM kernels (f32, f16, Q8_0, Q4_0; plain, bias, fused QKV split, fused gate+up SiLU)
 * versus the CPU reference on random inputs, on odd shapes that are not tile multiples.
 *
 * Tolerances: every dtype is compared with the reference computed on the *dequantised* weight
 * (what the kernel actually multiplies), so only accumulation order differs:
 * |gpu − ref| ≤ 1e-5·K + 1e-4·|ref|. Separately, f16 storage versus the original f32 weights
 * must stay within 1e-2 relative to the output scale, and Q8_0 within 2e-2 (quantisation error).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice, assertClose, randomFloats } from "./_device.ts";
import { KernelHarness } from "./_kernel_harness.ts";
import { gemvGrid, gemvKernel, type MatmulEpilogue } from "../../src/gpu/kernels/gemv.ts";
import { gemmGrid, gemmKernel, type GemmTile } from "../../src/gpu/kernels/gemm.ts";
import { dequantizeWeight, hostWeightFromF32 } from "../../src/gpu/kernels/host_weight.ts";
import { matmulRef, silu } from "../../src/gpu/reference/dense.ts";
import type { WeightDType } from "../../src/gpu/kernels/kernel_source.ts";

const device = await acquireTestDevice();
const skip = device.skip;

const DTYPES: WeightDType[] = ["f32", "f16", "q8_0", "q4_0"];
const tol = (k: number) => ({ abs: 1e-5 * k, rel: 1e-4 });

type Kind = "gemv" | "gemm";

async function check(
  kind: Kind,
  dtype: WeightDType,
  m: number,
  n: number,
  k: number,
  opts: {
    rows?: number;
    wg?: number;
    lane?: boolean;
    tile?: GemmTile;
    bias?: boolean;
    epilogue?: MatmulEpilogue;
    scaleGroup?: number;
  } = {},
) {
  const h = new KernelHarness(device.context!);
  try {
    const epilogue = opts.epilogue ?? { kind: "store" };
    const wRows = epilogue.kind === "gate_up_silu" ? 2 * n : n;
    const wHost = hostWeightFromF32(dtype, randomFloats(wRows * k, 11 + n + k), [wRows, k]);
    const x = randomFloats(m * k, 7 + m);
    const bias = randomFloats(n, 5);
    const full = matmulRef(
      x,
      dequantizeWeight(wHost),
      { m, n: wRows, k },
      opts.bias ? bias : undefined,
    );
    let expected: Float32Array;
    if (epilogue.kind === "gate_up_silu") {
      expected = new Float32Array(m * n);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          expected[i * n + j] = silu(full[i * 2 * n + j]) * full[i * 2 * n + n + j];
        }
      }
    } else expected = full;
    const kernel = kind === "gemv"
      ? gemvKernel({
        dtype,
        n,
        k,
        rows: opts.rows,
        workgroupSize: opts.wg,
        strategy: opts.lane ? "lane" : "workgroup",
        bias: opts.bias,
        epilogue,
        scaleGroup: opts.scaleGroup,
      })
      : gemmKernel({ dtype, n, k, tile: opts.tile, bias: opts.bias, epilogue });
    const grid = kind === "gemv"
      ? gemvGrid({
        n,
        rows: opts.rows,
        m,
        workgroupSize: opts.wg,
        strategy: opts.lane ? "lane" : "workgroup",
      })
      : gemmGrid({ n, m, tile: opts.tile });
    const sizes = epilogue.kind === "split3" ? epilogue.sizes : [n, 0, 0];
    const outs = sizes.map((s) => h.buf(Math.max(4, m * s * 4)));
    const bindings: Record<number, GPUBuffer> = {
      0: h.uni([m]),
      1: h.buf(x),
      ...h.weight(wHost),
      4: outs[0],
    };
    if (opts.bias) bindings[5] = h.buf(bias);
    if (epilogue.kind === "split3") [bindings[6], bindings[7]] = [outs[1], outs[2]];
    await h.run([{ kernel, bindings, grid }]);
    if (epilogue.kind === "split3") {
      let col = 0;
      for (let o = 0; o < 3; o++) {
        const got = await h.f32(outs[o], m * sizes[o]);
        const want = new Float32Array(m * sizes[o]);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < sizes[o]; j++) want[i * sizes[o] + j] = expected[i * n + col + j];
        }
        assertClose(got, want, tol(k), `${kernel.name} output ${o}`);
        col += sizes[o];
      }
    } else {
      assertClose(await h.f32(outs[0], expected.length), expected, tol(k), kernel.name);
    }
  } finally {
    h.dispose();
  }
}

describe("gemv kernel vs cpu reference", { skip }, () => {
  for (const dtype of DTYPES) {
    it(`${dtype}: n=37 k=64, m=1`, () => check("gemv", dtype, 1, 37, 64));
    it(`${dtype}: n=5 k=96, m=3, 2 rows/workgroup, 32 invocations`, () =>
      check("gemv", dtype, 3, 5, 96, { rows: 2, wg: 32 }));
    it(`${dtype}: n=19 k=160 with bias, 4 rows/workgroup`, () =>
      check("gemv", dtype, 1, 19, 160, { rows: 4, bias: true }));
  }
  it("f32: odd k=45 (scalar path)", () => check("gemv", "f32", 2, 13, 45));
  it("f16: odd k=45 (scalar path)", () => check("gemv", "f16", 1, 13, 45));
  it("fused QKV split3 with bias (q8_0)", () =>
    check("gemv", "q8_0", 1, 24, 64, {
      bias: true,
      epilogue: { kind: "split3", sizes: [16, 4, 4] },
    }));
  it("fused gate+up SiLU (q4_0, 2 rows)", () =>
    check("gemv", "q4_0", 2, 21, 64, { rows: 2, epilogue: { kind: "gate_up_silu" } }));
});

describe("gemv lane strategy (one invocation per rows, no reduction) vs cpu reference", {
  skip,
}, () => {
  for (const dtype of DTYPES) {
    // n = 37 with 16 invocations × 2 rows leaves a partial workgroup and a partial last lane.
    it(`${dtype}: n=37 k=96, m=1, 16 invocations × 2 rows`, () =>
      check("gemv", dtype, 1, 37, 96, { lane: true, wg: 16, rows: 2 }));
    it(`${dtype}: n=19 k=160, m=3, bias, 16 invocations × 8 rows`, () =>
      check("gemv", dtype, 3, 19, 160, { lane: true, wg: 16, rows: 8, bias: true }));
    it(`${dtype}: n=5 k=64, m=2, 32 invocations × 1 row`, () =>
      check("gemv", dtype, 2, 5, 64, { lane: true, wg: 32, rows: 1 }));
  }
  it("f32: odd k=45 (scalar chunks), 4 rows", () =>
    check("gemv", "f32", 2, 13, 45, { lane: true, wg: 16, rows: 4 }));
  it("f16: k=44 (4-value chunks, not 8), 3 rows", () =>
    check("gemv", "f16", 1, 13, 44, { lane: true, wg: 16, rows: 3 }));
  it("f16: odd k=45 (scalar chunks)", () =>
    check("gemv", "f16", 1, 13, 45, { lane: true, wg: 16, rows: 2 }));
  it("fused QKV split3 with bias (q4_0, 4 rows)", () =>
    check("gemv", "q4_0", 1, 24, 64, {
      lane: true,
      wg: 16,
      rows: 4,
      bias: true,
      epilogue: { kind: "split3", sizes: [16, 4, 4] },
    }));
  it("fused gate+up SiLU (q8_0 and f16, 2 rows, m=2)", async () => {
    for (const dtype of ["q8_0", "f16"] as const) {
      await check("gemv", dtype, 2, 21, 64, {
        lane: true,
        wg: 16,
        rows: 2,
        epilogue: { kind: "gate_up_silu" },
      });
    }
  });
  for (const dtype of ["q8_0", "q4_0"] as const) {
    it(`${dtype}: 1, 2, 4 and 8 blocks per scale load, both strategies, fused epilogues`, async () => {
      // k = 256: 8 blocks per row, so every group size divides; rows straddle groups.
      for (const scaleGroup of [1, 2, 4, 8]) {
        await check("gemv", dtype, 2, 13, 256, { lane: true, wg: 16, rows: 3, scaleGroup });
        await check("gemv", dtype, 1, 11, 256, { wg: 32, rows: 2, scaleGroup, bias: true });
      }
      await check("gemv", dtype, 1, 9, 512, {
        lane: true,
        rows: 2,
        epilogue: { kind: "gate_up_silu" },
      });
      await check("gemv", dtype, 2, 24, 128, {
        epilogue: { kind: "split3", sizes: [16, 4, 4] },
        scaleGroup: 4,
      });
    });
  }
  it("Q8_0 sign extension: the byte -128 decodes exactly", async () => {
    // A hand-built block with every byte -128 and scale 1: y = -128 · Σx.
    const h = new KernelHarness(device.context!);
    try {
      const block = new Uint8Array(34);
      block.set([0x00, 0x3c]); // f16 1.0
      block.fill(0x80, 2);
      const x = randomFloats(32, 3);
      const y = h.buf(4);
      await h.run([{
        kernel: gemvKernel({ dtype: "q8_0", n: 1, k: 32, strategy: "lane", workgroupSize: 16 }),
        bindings: {
          0: h.uni([1]),
          1: h.buf(x),
          ...h.weight({ dtype: "q8_0", shape: [1, 32], data: block }),
          4: y,
        },
        grid: gemvGrid({ n: 1, m: 1, strategy: "lane", workgroupSize: 16 }),
      }]);
      const want = -128 * x.reduce((a, b) => a + b, 0);
      assertClose(await h.f32(y, 1), [want], { abs: 1e-4, rel: 1e-5 }, "q8_0 -128");
    } finally {
      h.dispose();
    }
  });
});

describe("gemm kernel vs cpu reference", { skip }, () => {
  for (const dtype of DTYPES) {
    it(`${dtype}: m=7 n=37 k=64 default tile`, () => check("gemm", dtype, 7, 37, 64));
    it(`${dtype}: m=33 n=20 k=96 tile 16x32x8/2x4`, () =>
      check("gemm", dtype, 33, 20, 96, { tile: { bm: 16, bn: 32, bk: 8, tm: 2, tn: 4 } }));
  }
  it("f32: m=5 n=9 k=45 (k not a tile multiple)", () =>
    check("gemm", "f32", 5, 9, 45, { tile: { bm: 8, bn: 8, bk: 4, tm: 2, tn: 2 } }));
  it("fused QKV split3 with bias (f16)", () =>
    check("gemm", "f16", 9, 24, 64, {
      bias: true,
      epilogue: { kind: "split3", sizes: [8, 8, 8] },
    }));
  it("fused gate+up SiLU (q8_0)", () =>
    check("gemm", "q8_0", 6, 17, 64, { epilogue: { kind: "gate_up_silu" } }));
});

describe("reduced-precision storage vs original f32 weights", { skip }, () => {
  for (const [dtype, rel] of [["f16", 1e-2], ["q8_0", 2e-2]] as const) {
    it(`${dtype} gemv stays within ${rel} of the f32 result (relative to output scale)`, async () => {
      const h = new KernelHarness(device.context!);
      try {
        const n = 16, k = 256;
        const w = randomFloats(n * k, 3);
        const x = randomFloats(k, 4);
        const exact = matmulRef(x, w, { m: 1, n, k });
        const y = h.buf(n * 4);
        await h.run([{
          kernel: gemvKernel({ dtype, n, k }),
          bindings: {
            0: h.uni([1]),
            1: h.buf(x),
            ...h.weight(hostWeightFromF32(dtype, w, [n, k])),
            4: y,
          },
          grid: gemvGrid({ n, m: 1 }),
        }]);
        const got = await h.f32(y, n);
        const scale = Math.max(...exact.map(Math.abs));
        for (let i = 0; i < n; i++) {
          assert.ok(
            Math.abs(got[i] - exact[i]) <= rel * scale,
            `row ${i}: ${got[i]} vs ${exact[i]}`,
          );
        }
      } finally {
        h.dispose();
      }
    });
  }
});
