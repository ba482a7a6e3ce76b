/**
 * GPU kernel benchmarks for issue 4, each against a baseline measured in the same run:
 *   1. GEMV effective bandwidth vs a plain buffer-copy kernel's bandwidth,
 *   2. GEMM GFLOP/s vs the `cpu` backend,
 *   3. warm vs cold start of a full model kernel set (compile cache + autotuner),
 *   4. decode-step time with and without the recorded plan.
 * Run: node_modules/.bin/deno run -A bench/gpu_kernels.ts [--quick] [--large]
 * `--large` adds GEMV shapes and copy sizes past a discrete GPU's L2 (8192², 16384 × 8192;
 * 512 MiB copies), so a real GPU is measured from its memory rather than its cache.
 * Prints a Markdown section on stdout; progress on stderr.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireGpuContext } from "../src/gpu/device/gpu_context.ts";
import { navigatorGpuProvider } from "../src/gpu/device/gpu_provider.ts";
import { KernelRuntime } from "../src/gpu/compile/kernel_runtime.ts";
import type { KernelSource, WeightDType } from "../src/gpu/kernels/kernel_source.ts";
import { gemvCandidates, gemvTuning } from "../src/gpu/compile/kernel_piece.ts";
import {
  benchTimer,
  copyBandwidth,
  median,
  timeDispatch as timeDispatchOn,
} from "./gpu_bench_util.ts";
import { gemvGrid, gemvKernel } from "../src/gpu/kernels/gemv.ts";
import { gemmGrid, gemmKernel } from "../src/gpu/kernels/gemm.ts";
import { hostWeightFromF32, packWeight } from "../src/gpu/kernels/host_weight.ts";
import { matmulRef } from "../src/gpu/reference/dense.ts";
import { KernelCompileCache } from "../src/gpu/compile/compile_cache.ts";
import { cacheKeyFactors } from "../src/gpu/compile/cache_key_factors.ts";
import { type LlamaKernelConfig, llamaKernelSet } from "../src/gpu/compile/model_kernel_set.ts";
import { fsKernelCacheStorage } from "../src/runtime/gpu_cache_storage.ts";
import { buildToyDecoder } from "../src/gpu/llama/toy_decoder.ts";

const quick = Deno.args.includes("--quick");
const large = Deno.args.includes("--large");
const log = (s: string) => console.error(`[gpu-bench] ${s}`);
const ctx = await acquireGpuContext(navigatorGpuProvider(), {
  runtime: `Deno/${Deno.version.deno}`,
});
const rt = new KernelRuntime(ctx);
const out: string[] = [];
const row = (...cells: (string | number)[]) => out.push(`| ${cells.join(" | ")} |`);

const timeDispatch = (
  source: KernelSource,
  bindings: Record<number, GPUBuffer>,
  grid: [number, number, number],
  repeats: number,
  trials: number,
) => timeDispatchOn(rt, source, bindings, grid, { repeats, trials });

// 1. Bandwidth: copy kernel vs GEMV. The baseline is the best copy bandwidth over several sizes,
// measured before and after the GEMV sweep (the machine is shared; this keeps ratios
// conservative). All kernel times are device times (see src/gpu/compile/dispatch_timer.ts).
const copySizes = quick
  ? [8 << 20, 32 << 20]
  : [8 << 20, 32 << 20, 96 << 20, ...(large ? [512 << 20] : [])];
const copyTrials = quick ? 3 : 5;
const bestCopy = async (label: string) => {
  let best = { bytes: 0, ms: Infinity, gbs: 0 };
  for (const bytes of copySizes) {
    log(`bandwidth: copy kernel ${bytes >> 20} MiB (${label})`);
    const c = await copyBandwidth(rt, bytes, copyTrials);
    if (c.gbs > best.gbs) best = { bytes, ...c };
  }
  return best;
};
const copyBefore = await bestCopy("before");
out.push("### GEMV effective bandwidth vs buffer copy (same device, same run)", "");
const gemvRows: (string | number)[][] = [];
const shapes = quick
  ? [[1024, 1024]]
  : [[2048, 2048], [4096, 4096], ...(large ? [[8192, 8192], [16384, 8192]] : [])];
for (const [n, k] of shapes) {
  for (const dtype of ["f32", "f16", "q8_0", "q4_0"] as WeightDType[]) {
    const candidates = gemvCandidates(dtype, k);
    log(`bandwidth: gemv ${n} × ${k} ${dtype} (${candidates.length} candidates)`);
    const packed = packWeight(
      hostWeightFromF32(
        dtype,
        new Float32Array(n * k).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5),
        [n, k],
      ),
    );
    const bufs = [
      rt.uniform([1]),
      rt.buffer(new Float32Array(k).fill(1)),
      rt.buffer(packed.data),
      rt.buffer(n * 4),
    ];
    const bindings: Record<number, GPUBuffer> = {
      0: bufs[0],
      1: bufs[1],
      2: bufs[2],
      4: bufs[3],
    };
    if (packed.scales) bufs.push(bindings[3] = rt.buffer(packed.scales));
    const bytes = packed.data.byteLength + (packed.scales?.byteLength ?? 0) + k * 4;
    const best = new Map<string, { ms: number; label: string }>();
    for (const t of candidates) {
      const o = gemvTuning(t);
      const ms = await timeDispatch(
        gemvKernel({ dtype, n, k, ...o }),
        bindings,
        gemvGrid({ n, m: 1, ...o }),
        quick ? 4 : 8,
        quick ? 3 : 5,
      );
      const label = `wg ${o.workgroupSize}, ${
        o.strategy === "wide" ? `${o.threadsPerRow} per row group × ` : ""
      }rows ${o.rows}${o.scaleGroup > 1 ? `, ${o.scaleGroup} blocks/scale load` : ""}${
        o.strategy === "wide" ? `, unroll ${o.unroll}` : ""
      }`;
      if (ms < (best.get(o.strategy)?.ms ?? Infinity)) best.set(o.strategy, { ms, label });
    }
    for (const strategy of ["workgroup", "lane", "wide"]) {
      const b = best.get(strategy)!;
      gemvRows.push([
        `${n} × ${k}`,
        dtype,
        (bytes / 2 ** 20).toFixed(1),
        strategy,
        b.label,
        b.ms,
        bytes,
      ]);
    }
    bufs.forEach((b) => b.destroy());
  }
}
const copyAfter = await bestCopy("after");
const copy = copyBefore.gbs >= copyAfter.gbs ? copyBefore : copyAfter;
const copyGBs = copy.gbs;
out.push(
  `Copy kernel (vec4, bytes read + bytes written), best of ${
    copySizes.map((b) => `${b >> 20}`).join(", ")
  } MiB: ${copyBefore.gbs.toFixed(2)} GB/s (${copyBefore.bytes >> 20} MiB) before and ${
    copyAfter.gbs.toFixed(2)
  } GB/s (${copyAfter.bytes >> 20} MiB) after the GEMV sweep; baseline **${
    copyGBs.toFixed(2)
  } GB/s** (the faster). Times are device times (${benchTimer(rt).method} timer).`,
  "",
);
row(
  "GEMV (n × k)",
  "dtype",
  "weight MiB",
  "strategy",
  "best tuning",
  "ms",
  "GB/s (weights + x)",
  "vs copy",
);
row("---", "---", "---", "---", "---", "---", "---", "---");
for (const [shape, dtype, mib, strategy, label, ms, bytes] of gemvRows) {
  const gbs = (bytes as number) / ((ms as number) * 1e6);
  row(
    shape,
    dtype,
    mib,
    strategy,
    label,
    (ms as number).toFixed(2),
    gbs.toFixed(2),
    `${((gbs / copyGBs) * 100).toFixed(0)}%`,
  );
}

// 2. GEMM vs CPU backend.
log("gemm vs cpu");
out.push("", "### GEMM GFLOP/s vs the `cpu` backend (same run)", "");
row("m × n × k", "dtype", "webgpu ms", "webgpu GFLOP/s", "cpu ms", "cpu GFLOP/s", "ratio");
row("---", "---", "---", "---", "---", "---", "---");
for (const [m, gn, gk] of quick ? [[64, 256, 256]] : [[64, 512, 512], [128, 512, 512]]) {
  for (const dtype of ["f32", "q4_0"] as WeightDType[]) {
    const w = new Float32Array(gn * gk).map((_, i) => ((i * 31) % 17) / 17 - 0.5);
    const x = new Float32Array(m * gk).map((_, i) => ((i * 13) % 11) / 11 - 0.5);
    const packed = packWeight(hostWeightFromF32(dtype, w, [gn, gk]));
    const bufs = [rt.uniform([m]), rt.buffer(x), rt.buffer(packed.data), rt.buffer(m * gn * 4)];
    const bindings: Record<number, GPUBuffer> = { 0: bufs[0], 1: bufs[1], 2: bufs[2], 4: bufs[3] };
    if (packed.scales) bufs.push(bindings[3] = rt.buffer(packed.scales));
    let gpuMs = Infinity;
    for (
      const tile of [{ bm: 32, bn: 32, bk: 16, tm: 4, tn: 4 }, {
        bm: 64,
        bn: 64,
        bk: 8,
        tm: 8,
        tn: 4,
      }, { bm: 32, bn: 64, bk: 8, tm: 4, tn: 8 }]
    ) {
      gpuMs = Math.min(
        gpuMs,
        await timeDispatch(
          gemmKernel({ dtype, n: gn, k: gk, tile }),
          bindings,
          gemmGrid({ n: gn, m, tile }),
          2,
          3,
        ),
      );
    }
    const cpuTimes: number[] = [];
    for (let t = 0; t < 3; t++) {
      const s = performance.now();
      matmulRef(x, w, { m, n: gn, k: gk });
      cpuTimes.push(performance.now() - s);
    }
    const cpuMs = median(cpuTimes), flop = 2 * m * gn * gk;
    row(
      `${m} × ${gn} × ${gk}`,
      dtype,
      gpuMs.toFixed(2),
      (flop / gpuMs / 1e6).toFixed(2),
      cpuMs.toFixed(2),
      (flop / cpuMs / 1e6).toFixed(2),
      `${(cpuMs / gpuMs).toFixed(2)}×`,
    );
    bufs.forEach((b) => b.destroy());
  }
}

// 3. Cold vs warm start of a full model kernel set.
const model: LlamaKernelConfig = quick
  ? {
    hidden: 256,
    intermediate: 512,
    heads: 4,
    kvHeads: 2,
    headDim: 64,
    vocab: 2048,
    dtype: "q4_0",
    blockSize: 16,
    maxBlocks: 16,
    ropeTheta: 1e4,
    ropeMode: "neox",
    eps: 1e-5,
  }
  : {
    hidden: 512,
    intermediate: 1408,
    heads: 8,
    kvHeads: 2,
    headDim: 64,
    vocab: 8192,
    dtype: "q4_0",
    blockSize: 16,
    maxBlocks: 32,
    ropeTheta: 1e4,
    ropeMode: "neox",
    eps: 1e-5,
  };
const buckets = [1, 8, 32];
const items = llamaKernelSet(model, { buckets, backend: "webgpu" });
const root = await mkdtemp(join(tmpdir(), "sluice-bench-kcache-"));
const factors = cacheKeyFactors(ctx, model, model.dtype);
const storage = fsKernelCacheStorage();
const start = async (label: string) => {
  const runtime = new KernelRuntime(ctx);
  const t0 = performance.now();
  const cache = await KernelCompileCache.open(runtime, {
    storage,
    root,
    factors,
    autotune: { repeats: 2, trials: 2 },
  });
  let last = 0;
  await cache.warmUp(items, {
    onProgress: (p) => {
      if (p.done - last >= 10 || p.done === p.total) {
        log(`${label}: ${(last = p.done)}/${p.total} pieces`);
      }
    },
  });
  await cache.save();
  const ms = performance.now() - t0;
  runtime.destroy();
  return { ms, counters: { ...cache.counters } };
};
log(`cold start: ${items.length} pieces (${buckets.length} buckets)`);
const cold = await start("cold");
log("warm start");
const warm = await start("warm");
await rm(root, { recursive: true, force: true });
out.push("", "### Kernel set cold vs warm start (compile cache)", "");
out.push(
  `Model kernel set: hidden ${model.hidden}, intermediate ${model.intermediate}, ${model.heads}/${model.kvHeads} heads × ${model.headDim}, vocab ${model.vocab}, ${model.dtype}; buckets ${
    buckets.join(", ")
  } → ${items.length} pieces (${cold.counters.tunings} autotuned).`,
  "",
);
row("start", "wall ms", "compiles", "cache hits", "tunings");
row("---", "---", "---", "---", "---");
row(
  "cold (empty cache dir)",
  cold.ms.toFixed(0),
  cold.counters.compiles,
  cold.counters.cacheHits,
  cold.counters.tunings,
);
row(
  "warm (same dir, new runtime)",
  warm.ms.toFixed(0),
  warm.counters.compiles,
  warm.counters.cacheHits,
  warm.counters.tunings,
);
out.push("", `Warm start is **${(cold.ms / warm.ms).toFixed(1)}× faster** than cold.`);

// 4. Decode step with and without the recorded plan.
log("decode plan vs unrecorded steps");
const vocab = 2048, dim = 256, K = 16;
const toy = await buildToyDecoder(rt, {
  vocab,
  dim,
  dtype: "q8_0",
  table: hostWeightFromF32(
    "q8_0",
    new Float32Array(vocab * dim).map((_, i) => Math.sin(i * 0.37)),
    [vocab, dim],
  ),
  norm: new Float32Array(dim).fill(1),
  maxSteps: K * 8,
});
toy.reset(1);
await toy.plan.run(K);
toy.reset(1);
const t1 = performance.now();
for (let i = 0; i < 4; i++) await toy.plan.run(K);
const planMs = (performance.now() - t1) / (4 * K);
toy.reset(1);
await toy.unrecordedStep();
const t2 = performance.now();
const stepN = quick ? 8 : 24;
for (let i = 0; i < stepN; i++) await toy.unrecordedStep();
const stepMs = (performance.now() - t2) / stepN;
toy.destroy();
out.push(
  "",
  "### Decode step: recorded plan (K = 16 steps per submit, 1 readback) vs op-at-a-time",
  "",
);
out.push(
  `Toy decoder (embedding → RMSNorm → ${vocab} × ${dim} q8_0 LM-head GEMV → argmax → advance; 5 dispatches per step).`,
  "",
);
row("mode", "ms per token", "tokens/s");
row("---", "---", "---");
row(
  "unrecorded: bind groups + submit + readback each step",
  stepMs.toFixed(2),
  (1000 / stepMs).toFixed(0),
);
row(`recorded plan, ${K} steps per submit`, planMs.toFixed(2), (1000 / planMs).toFixed(0));
out.push("", `Recorded plan: **${(stepMs / planMs).toFixed(1)}×** fewer ms per token.`);

rt.destroy();
ctx.destroy();
console.log(out.join("\n"));
