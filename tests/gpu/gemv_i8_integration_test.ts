/**
 * The int8-activation GEMV wired into tuning and the WebGPU backends: candidates are offered
 * only when asked (and the mode resolves from the device's WGSL language features), a kernel
 * set adds the quantise kernel of each K, the device fingerprint covers the WGSL features;
 * on a device, a decode step with the int8 path forced on `webgpu` and `webgpu-eager`
 * dispatches quantise + int8 GEMV for every matmul, gives the same ids op at a time and as a
 * captured multi-step plan, and reuses its pooled temporaries (no buffer growth); the
 * autotuner times the int8 candidates with their quantise dispatch.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { acquireTestDevice } from "./_device.ts";
import { canCapture } from "../../src/gpu/ops/backend.ts";
import { createWebGpuBackend } from "../../src/gpu/backends/webgpu_backend.ts";
import { selectMatmul, warmUpKernelSet } from "../../src/gpu/backends/matmul_tuning.ts";
import { BufferPool } from "../../src/gpu/device/buffer_pool.ts";
import { KernelRuntime } from "../../src/gpu/compile/kernel_runtime.ts";
import { KernelCompileCache } from "../../src/gpu/compile/compile_cache.ts";
import { cacheKeyFactors } from "../../src/gpu/compile/cache_key_factors.ts";
import { memoryCacheStorage } from "../../src/gpu/compile/kernel_cache_storage.ts";
import { GEMV_CANDIDATES, matmulPiece } from "../../src/gpu/compile/kernel_piece.ts";
import { autotune } from "../../src/gpu/compile/autotuner.ts";
import { type LlamaKernelConfig, llamaKernelSet } from "../../src/gpu/compile/model_kernel_set.ts";
import { smallLlamaConfig } from "./_llama_config.ts";
import { GEMV_I8_CANDIDATES, resolveInt8GemvMode } from "../../src/gpu/compile/gemv_i8_tuning.ts";
import { computeDeviceFingerprint } from "../../src/gpu/device/device_fingerprint.ts";
import { GpuError } from "../../src/gpu/device/gpu_error.ts";
import { DOT4_FEATURE } from "../../src/gpu/kernels/quantize_rows.ts";
import {
  createLlamaDecodeStep,
  releaseLlamaWeights,
} from "../../src/gpu/llama/llama_decode_step.ts";
import { randomLlamaWeights } from "../../src/gpu/llama/llama_random_weights.ts";
import type { Backend } from "../../src/gpu/ops/backend.ts";

const device = await acquireTestDevice();
const skip = device.skip ||
  (device.context!.wgslFeatures.has(DOT4_FEATURE)
    ? false
    : `the device's WGSL lacks ${DOT4_FEATURE}`);

const config = (dtype: LlamaKernelConfig["dtype"]) => smallLlamaConfig(dtype);

describe("int8 GEMV selection (no device)", () => {
  it("matmul pieces offer the int8 candidates only when asked, for quantised GEMVs", () => {
    const o = { dtype: "q4_0" as const, m: 1, n: 64, k: 128 };
    assert.deepEqual(matmulPiece(o).candidates, GEMV_CANDIDATES);
    assert.deepEqual(matmulPiece({ ...o, int8: "auto" }).candidates, [
      ...GEMV_CANDIDATES,
      ...GEMV_I8_CANDIDATES,
    ]);
    const forced = matmulPiece({ ...o, int8: "force" });
    assert.deepEqual(forced.candidates, GEMV_I8_CANDIDATES);
    assert.match(forced.generate(forced.candidates[0]).name, /^gemv_i8\.q4_0\.n64\.k128\.store$/);
    assert.deepEqual(forced.refine?.(forced.candidates[0]), []);
    assert.equal(forced.name, matmulPiece(o).name, "one operation name for both paths");
    // f32 weights and GEMM buckets have no int8 path.
    assert.deepEqual(
      matmulPiece({ ...o, dtype: "f32", int8: "force" }).candidates,
      GEMV_CANDIDATES,
    );
    assert.ok(matmulPiece({ ...o, m: 32, int8: "force" }).candidates.every((t) => !t.i8));
  });

  it("the mode resolves from the WGSL language features", () => {
    const none = new Set<string>(), dot4 = new Set([DOT4_FEATURE]);
    assert.equal(resolveInt8GemvMode("auto", none), "off");
    assert.equal(resolveInt8GemvMode("auto", dot4), "auto");
    assert.equal(resolveInt8GemvMode("force", dot4), "force");
    assert.equal(resolveInt8GemvMode("off", dot4), "off");
    assert.throws(
      () => resolveInt8GemvMode("force", none),
      (e: Error) => e instanceof GpuError && e.kind === "unsupported",
    );
  });

  it("a kernel set with int8 adds one quantise kernel per K of its quantised GEMV buckets", () => {
    const quantize = (c: LlamaKernelConfig, int8?: "off" | "auto" | "force", buckets = [1, 2]) =>
      llamaKernelSet(c, { buckets, backend: "webgpu", int8 })
        .filter((i) => i.key.op.startsWith("quantize_rows"))
        .map((i) => `${i.key.bucket}:${i.key.op}`);
    const c = config("q8_0");
    // K = hidden 64 (QKV, gate+up, LM head), heads × headDim 64 (o), intermediate 96 (down).
    assert.deepEqual(quantize(c, "auto"), [
      "1:quantize_rows.q8.k64",
      "1:quantize_rows.q8.k96",
      "2:quantize_rows.q8.k64",
      "2:quantize_rows.q8.k96",
    ]);
    assert.deepEqual(quantize(c), []);
    assert.deepEqual(quantize(c, "off"), []);
    assert.deepEqual(quantize(config("f16"), "force"), []);
    assert.deepEqual(quantize(c, "force", [32]), [], "GEMM buckets");
  });

  it("the device fingerprint covers the WGSL language features", async () => {
    const base = {
      adapter: {
        vendor: "v",
        architecture: "",
        device: "0",
        description: "d",
        isFallbackAdapter: false,
      },
      features: [],
      limits: {},
      runtime: "r",
      provider: "p",
    };
    const without = await computeDeviceFingerprint({ ...base, wgslFeatures: [] });
    const withDot4 = await computeDeviceFingerprint({ ...base, wgslFeatures: [DOT4_FEATURE] });
    assert.notEqual(without, withDot4);
    assert.equal(
      await computeDeviceFingerprint({ ...base, wgslFeatures: ["b", DOT4_FEATURE] }),
      await computeDeviceFingerprint({ ...base, wgslFeatures: [DOT4_FEATURE, "b"] }),
    );
  });
});

describe("int8 GEMV on the WebGPU backends", { skip }, () => {
  const rt = device.context ? new KernelRuntime(device.context) : undefined;
  after(() => rt?.destroy());
  const STEPS = 8, START = new Uint32Array([5, 17]);
  const greedy = [0, 1].map((seed) => ({ temperature: 0, topK: 0, topP: 1, seed }));

  function setup(backend: Backend, c: LlamaKernelConfig) {
    const weights = randomLlamaWeights(backend, c, { layers: 2, seed: 1 });
    const step = createLlamaDecodeStep(backend, { config: c, weights }, {
      blockTable: new Uint32Array([3, 1, 7, 5, 0, 2, 4, 6]),
      numBlocks: 8,
      maxSteps: STEPS,
      sampling: greedy,
    });
    step.reset(START, new Uint32Array(2));
    return {
      step,
      release() {
        step.release();
        releaseLlamaWeights(backend, weights);
      },
    };
  }

  for (const backend of ["webgpu", "webgpu-eager"] as const) {
    for (const dtype of ["q8_0", "q4_0"] as const) {
      it(`${backend} ${dtype}: forced int8 matmuls, op at a time = captured plan, pooled temporaries`, async () => {
        const c = config(dtype);
        const cache = await KernelCompileCache.open(rt!, {
          storage: memoryCacheStorage(),
          root: "/unused",
          factors: cacheKeyFactors(device.context!, c, c.dtype),
          disabled: true,
          tune: false,
        });
        const kernels = await warmUpKernelSet(cache, c, { buckets: [2], backend, int8: "force" });
        const gemvs = kernels.pieces.filter((p) => p.key.op.startsWith("gemv"));
        assert.equal(gemvs.length, 5, "QKV, o, gate+up, down, LM head");
        assert.ok(gemvs.every((p) => p.tuning.i8 === 1 && p.source.name.startsWith("gemv_i8")));
        const pool = new BufferPool(device.context!.device);
        const b = createWebGpuBackend(rt!, { fused: backend === "webgpu", kernels, pool });
        try {
          // Op at a time, one read per step.
          const s = setup(b, c);
          const direct: number[] = [];
          let afterTwo = 0;
          for (let i = 0; i < STEPS; i++) {
            s.step.encode();
            direct.push(...await b.read(s.step.ids));
            if (i === 1) afterTwo = pool.stats.created;
          }
          assert.equal(pool.stats.created, afterTwo, "steady steps create no buffers");
          s.release();
          assert.ok(new Set(direct).size >= 4, `ids vary: ${direct}`);
          // Captured plan, 3 + 5 steps per submit (multi-step).
          assert.ok(canCapture(b));
          const capture = async () => {
            const t = setup(b, c);
            const plan = await b.capture(() => t.step.encode(), { history: t.step.history });
            return { t, plan };
          };
          const { t, plan } = await capture();
          const labels = plan.steps.map((p) => (p.kind === "dispatch" ? p.dispatch.label : "copy"));
          const quantizes = labels.filter((l) => l.startsWith("quantize_rows")).length;
          assert.equal(quantizes, labels.filter((l) => l.startsWith("gemv_i8")).length);
          assert.equal(quantizes, 2 * 4 + 1, "4 matmuls per layer × 2 layers + LM head");
          const planned = [...await plan.run(3), ...await plan.run(5)];
          assert.deepEqual(planned, direct, "captured plan = op at a time");
          const held = pool.stats.created;
          plan.destroy();
          t.release();
          const again = await capture();
          assert.equal(pool.stats.created, held, "a second capture reuses the first one's buffers");
          again.plan.destroy();
          again.t.release();
        } finally {
          b.destroy();
          pool.destroy();
        }
      });
    }
  }

  it("selection: the set's int8 entry brings the wide grid", async () => {
    const c = config("q4_0");
    const cache = await KernelCompileCache.open(rt!, {
      storage: memoryCacheStorage(),
      root: "/unused",
      factors: cacheKeyFactors(device.context!, c, c.dtype),
      disabled: true,
      tune: false,
    });
    const kernels = await warmUpKernelSet(cache, c, { buckets: [1], int8: "force" });
    const choice = selectMatmul({ dtype: "q4_0", m: 1, n: 128, k: 64 }, kernels);
    const t = GEMV_I8_CANDIDATES[0];
    assert.deepEqual(choice.tuning, t);
    assert.deepEqual(choice.grid, [Math.ceil(128 / ((t.wg / t.tpr) * t.rows)), 1, 1]);
  });

  it("the autotuner times the int8 candidates with their quantise dispatch", async () => {
    const piece = matmulPiece({ dtype: "q4_0", m: 1, n: 128, k: 256, int8: "auto" });
    const { timings } = await autotune(rt!, piece, { repeats: 2, trials: 1 });
    const i8 = timings.filter((t) => t.tuning.i8);
    assert.equal(i8.length, GEMV_I8_CANDIDATES.length, "every int8 candidate was timed");
    // Finite (a slope timer, without timestamps, may measure ≤ 0 for so small a kernel).
    assert.ok(i8.every((t) => Number.isFinite(t.ms)), JSON.stringify(i8));
    assert.ok(timings.length > i8.length, "beside the float candidates");
  });
});
