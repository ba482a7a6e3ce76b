/**
 * Token-batched GEMV (`kernels/gemv_tokens.ts`): each weight sub-chunk decoded once per pass of
 * T token rows. Checked for every strategy (workgroup, lane, wide) × weight dtype × epilogue
 * (store, bias, split3 + bias, gate+up SiLU) × T ∈ {1, 2, 4, 8} at m = 3, 5, 8 and 16 (tails
 * where m is not a multiple of T, and m < T) against the CPU reference, with the tolerance of
 * kernels_matmul_test.ts (only accumulation order differs: |gpu − ref| ≤ 1e-5·K + 1e-4·|ref|).
 *
 * Determinism: a row's result MUST be the same bits whatever T and the batch size, so the
 * engine's greedy outputs do not depend on how many requests share a step: m = 1 (T = 1) per
 * row versus m = 8 with T = 1, 2, 4, 8 and m = 16 with T = 8, compared bit for bit, per kernel
 * and through the `webgpu` backend's default (untuned) matmuls.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice, assertClose, randomFloats } from "./_device.ts";
import { KernelHarness } from "./_kernel_harness.ts";
import {
  gemvGrid,
  gemvKernel,
  type GemvOptions,
  type GemvStrategy,
  type MatmulEpilogue,
} from "../../src/gpu/kernels/gemv.ts";
import { dequantizeWeight, hostWeightFromF32 } from "../../src/gpu/kernels/host_weight.ts";
import { matmulRef, silu } from "../../src/gpu/reference/dense.ts";
import type { WeightDType } from "../../src/gpu/kernels/kernel_source.ts";
import { KernelRuntime } from "../../src/gpu/compile/kernel_runtime.ts";
import { createWebGpuBackend } from "../../src/gpu/backends/webgpu_backend.ts";

const device = await acquireTestDevice();
const skip = device.skip;
const DTYPES: WeightDType[] = ["f32", "f16", "q8_0", "q4_0"];
const TOKENS = [1, 2, 4, 8];
/**
 * Dawn on GL ES / llvmpipe (Bun) compiles each kernel at its first dispatch, ~0.1–0.6 s for
 * these (more with more tokens per pass): past Bun's default 5 s per test.
 */
const SLOW = { timeout: 120_000 };

/** Strategy parameters per strategy (partial row groups at n = 37). */
const STRATEGIES: Record<GemvStrategy, Partial<GemvOptions>> = {
  workgroup: { strategy: "workgroup", workgroupSize: 32, rows: 2 },
  lane: { strategy: "lane", workgroupSize: 16, rows: 3 },
  wide: { strategy: "wide", workgroupSize: 64, threadsPerRow: 16, rows: 2, unroll: 2 },
};

const EPILOGUES: { name: string; epilogue: MatmulEpilogue; bias: boolean }[] = [
  { name: "store", epilogue: { kind: "store" }, bias: false },
  { name: "bias", epilogue: { kind: "store" }, bias: true },
  { name: "split3+bias", epilogue: { kind: "split3", sizes: [25, 6, 6] }, bias: true },
  { name: "gate_up_silu", epilogue: { kind: "gate_up_silu" }, bias: false },
];

interface Case {
  dtype: WeightDType;
  n: number;
  k: number;
  epilogue: MatmulEpilogue;
  bias: boolean;
}

/** Host inputs of a case: weight (2N rows for gate+up), x for `m` rows, bias. */
function inputs(c: Case, m: number) {
  const wRows = c.epilogue.kind === "gate_up_silu" ? 2 * c.n : c.n;
  const w = hostWeightFromF32(c.dtype, randomFloats(wRows * c.k, 3 + c.n + c.k), [wRows, c.k]);
  return { w, wRows, x: randomFloats(m * c.k, 9 + m), bias: randomFloats(c.n, 13) };
}

/** The reference `[m, n]` result (split3: the concatenated outputs). */
function reference(c: Case, m: number): Float32Array {
  const { w, wRows, x, bias } = inputs(c, m);
  const full = matmulRef(
    x,
    dequantizeWeight(w),
    { m, n: wRows, k: c.k },
    c.bias ? bias : undefined,
  );
  if (c.epilogue.kind !== "gate_up_silu") return full;
  const out = new Float32Array(m * c.n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < c.n; j++) {
      out[i * c.n + j] = silu(full[i * 2 * c.n + j]) * full[i * 2 * c.n + c.n + j];
    }
  }
  return out;
}

/**
 * Runs `options` (strategy, tokens) on `m` rows of the case's x (or `x` given) and returns the
 * `[m, n]` result (split3 outputs concatenated per row).
 */
async function run(
  h: KernelHarness,
  c: Case,
  options: Partial<GemvOptions>,
  m: number,
  x?: Float32Array,
): Promise<Float32Array> {
  const { w, bias, x: xs } = inputs(c, m);
  const kernel = gemvKernel({
    ...options,
    dtype: c.dtype,
    n: c.n,
    k: c.k,
    epilogue: c.epilogue,
    bias: c.bias,
  });
  const sizes = c.epilogue.kind === "split3" ? c.epilogue.sizes : [c.n];
  const outs = sizes.map((s) => h.buf(m * s * 4));
  const bindings: Record<number, GPUBuffer> = {
    0: h.uni([m]),
    1: h.buf(x ?? xs),
    ...h.weight(w),
    4: outs[0],
  };
  if (c.bias) bindings[5] = h.buf(bias);
  if (sizes.length === 3) [bindings[6], bindings[7]] = [outs[1], outs[2]];
  await h.run([{ kernel, bindings, grid: gemvGrid({ ...options, n: c.n, m }) }]);
  const parts = await Promise.all(outs.map((o, i) => h.f32(o, m * sizes[i])));
  const y = new Float32Array(m * c.n);
  for (let i = 0; i < m; i++) {
    let col = 0;
    parts.forEach((p, o) => {
      y.set(p.subarray(i * sizes[o], (i + 1) * sizes[o]), i * c.n + col);
      col += sizes[o];
    });
  }
  return y;
}

/** Asserts two results are the same bits. */
function assertSameBits(got: Float32Array, want: Float32Array, label: string): void {
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  const i = a.findIndex((v, j) => v !== b[j]);
  assert.equal(a.length, b.length, `${label}: length`);
  assert.equal(i, -1, `${label}: element ${i} is ${got[i]}, expected ${want[i]} bit for bit`);
}

describe("token-batched gemv vs cpu reference", { skip }, () => {
  for (const [name, strategy] of Object.entries(STRATEGIES)) {
    for (const dtype of DTYPES) {
      for (const e of EPILOGUES) {
        it(`${name} ${dtype} ${e.name}: T = 1, 2, 4, 8 at m = 3, 5, 8, 16`, SLOW, async () => {
          const c: Case = { dtype, n: 37, k: 96, epilogue: e.epilogue, bias: e.bias };
          const h = new KernelHarness(device.context!);
          try {
            for (const tokens of TOKENS) {
              for (const m of [3, 5, 8, 16]) {
                assertClose(
                  await run(h, c, { ...strategy, tokens }, m),
                  reference(c, m),
                  { abs: 1e-5 * c.k, rel: 1e-4 },
                  `${name} ${dtype} ${e.name} T=${tokens} m=${m}`,
                );
              }
            }
          } finally {
            h.dispose();
          }
        });
      }
    }
  }
  it("scalar and 4-value float units (k = 45, 44) and 4 blocks per scale load", SLOW, async () => {
    const h = new KernelHarness(device.context!);
    try {
      const cases: [Case, Partial<GemvOptions>][] = [];
      for (const s of Object.values(STRATEGIES)) {
        cases.push([{ dtype: "f32", n: 13, k: 45, epilogue: { kind: "store" }, bias: false }, s]);
        cases.push([{ dtype: "f16", n: 13, k: 44, epilogue: { kind: "store" }, bias: true }, s]);
      }
      for (const dtype of ["q8_0", "q4_0"] as const) {
        for (const s of [STRATEGIES.workgroup, STRATEGIES.lane]) {
          const c: Case = { dtype, n: 11, k: 256, epilogue: { kind: "gate_up_silu" }, bias: false };
          cases.push([c, { ...s, scaleGroup: 4 }]);
        }
      }
      for (const [c, s] of cases) {
        for (const tokens of [2, 4]) {
          assertClose(await run(h, c, { ...s, tokens }, 5), reference(c, 5), {
            abs: 1e-5 * c.k,
            rel: 1e-4,
          }, `${c.dtype} k=${c.k} ${s.strategy} g=${s.scaleGroup ?? 1} T=${tokens}`);
        }
      }
    } finally {
      h.dispose();
    }
  });
});

describe("token-batched gemv is bit-identical to one token at a time", { skip }, () => {
  for (const [name, strategy] of Object.entries(STRATEGIES)) {
    for (const dtype of DTYPES) {
      it(
        `${name} ${dtype}: m = 1 per row vs m = 8 (T = 1, 2, 4, 8) and m = 16 (T = 8)`,
        SLOW,
        async () => {
          const h = new KernelHarness(device.context!);
          try {
            for (const e of [EPILOGUES[2], EPILOGUES[3]]) {
              const c: Case = { dtype, n: 37, k: 128, epilogue: e.epilogue, bias: e.bias };
              const x16 = inputs(c, 16).x;
              const single = new Float32Array(16 * c.n);
              for (let i = 0; i < 16; i++) {
                const row = x16.subarray(i * c.k, (i + 1) * c.k);
                single.set(await run(h, c, { ...strategy, tokens: 1 }, 1, row), i * c.n);
              }
              for (const tokens of TOKENS) {
                const y = await run(h, c, { ...strategy, tokens }, 8, x16.subarray(0, 8 * c.k));
                assertSameBits(y, single.subarray(0, 8 * c.n), `${e.name} m=8 T=${tokens}`);
              }
              assertSameBits(
                await run(h, c, { ...strategy, tokens: 8 }, 16, x16),
                single,
                `${e.name} m=16 T=8`,
              );
            }
          } finally {
            h.dispose();
          }
        },
      );
    }
  }
  it(
    "passes whose sums exceed 16 KiB reduce a few tokens at a time (wide, workgroup)",
    SLOW,
    async () => {
      const h = new KernelHarness(device.context!);
      try {
        // wide 256 × 8 gate+up rows: 16 KiB per token (1 token per reduction); workgroup 256 × 4
        // gate+up rows: 8 KiB per token (2 per reduction).
        const configs: Partial<GemvOptions>[] = [
          { strategy: "wide", workgroupSize: 256, threadsPerRow: 32, rows: 8, unroll: 1 },
          { strategy: "workgroup", workgroupSize: 256, rows: 4 },
        ];
        const c: Case = {
          dtype: "q4_0",
          n: 75,
          k: 256,
          epilogue: { kind: "gate_up_silu" },
          bias: false,
        };
        const x = inputs(c, 8).x;
        for (const o of configs) {
          const single = new Float32Array(8 * c.n);
          for (let i = 0; i < 8; i++) {
            single.set(
              await run(h, c, { ...o, tokens: 1 }, 1, x.subarray(i * c.k, (i + 1) * c.k)),
              i * c.n,
            );
          }
          for (const tokens of [4, 8]) {
            const y = await run(h, c, { ...o, tokens }, 8, x);
            assertClose(
              y,
              reference(c, 8),
              { abs: 1e-5 * c.k, rel: 1e-4 },
              `${o.strategy} T=${tokens}`,
            );
            assertSameBits(y, single, `${o.strategy} T=${tokens}`);
          }
        }
      } finally {
        h.dispose();
      }
    },
  );
  it(
    "webgpu backend, default kernels: a row's logits at batch 8 and 5 equal batch 1",
    SLOW,
    async () => {
      const backend = createWebGpuBackend(new KernelRuntime(device.context!), { fused: true });
      try {
        for (const dtype of ["q8_0", "f16"] as const) {
          const n = 45, k = 96;
          const w = backend.uploadWeight(hostWeightFromF32(dtype, randomFloats(n * k, 21), [n, k]));
          const x = randomFloats(8 * k, 22);
          const one = new Float32Array(8 * n);
          for (let i = 0; i < 8; i++) {
            const out = backend.empty([1, n]);
            backend.matmul(out, backend.upload(x.subarray(i * k, (i + 1) * k), [1, k]), w);
            one.set(await backend.read(out) as Float32Array, i * n);
          }
          for (const m of [8, 5]) {
            const out = backend.empty([m, n]);
            backend.matmul(out, backend.upload(x.subarray(0, m * k), [m, k]), w);
            assertSameBits(
              await backend.read(out) as Float32Array,
              one.subarray(0, m * n),
              `${dtype} batch ${m}`,
            );
          }
        }
      } finally {
        backend.destroy();
      }
    },
  );
});
