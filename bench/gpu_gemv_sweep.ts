/**
 * GEMV candidate sweep: times every GEMV tuning candidate (both strategies) for each weight
 * dtype at one shape, next to a plain copy kernel measured in the same run, and prints which
 * candidate the autotuner would pick. A diagnostic companion of `bench/gpu_kernels.ts`.
 * Run: node_modules/.bin/deno run -A bench/gpu_gemv_sweep.ts [n] [k] [workgroup|lane]
 */
import { acquireGpuContext } from "../src/gpu/device/gpu_context.ts";
import { navigatorGpuProvider } from "../src/gpu/device/gpu_provider.ts";
import { KernelRuntime } from "../src/gpu/compile/kernel_runtime.ts";
import type { WeightDType } from "../src/gpu/kernels/kernel_source.ts";
import { gemvGrid, gemvKernel } from "../src/gpu/kernels/gemv.ts";
import { hostWeightFromF32, packWeight } from "../src/gpu/kernels/host_weight.ts";
import { gemvCandidates, gemvTuning } from "../src/gpu/compile/kernel_piece.ts";
import { copyBandwidth, timeDispatch } from "./gpu_bench_util.ts";

const n = Number(Deno.args[0] ?? 2048), k = Number(Deno.args[1] ?? 2048);
const only = Deno.args[2];
const ctx = await acquireGpuContext(navigatorGpuProvider(), {
  runtime: `Deno/${Deno.version.deno}`,
});
const rt = new KernelRuntime(ctx);
const copy = await copyBandwidth(rt, 32 << 20, 5);
console.log(`copy: ${copy.gbs.toFixed(2)} GB/s (${copy.ms.toFixed(2)} ms for 2 × 32 MiB)`);
for (const dtype of ["f32", "f16", "q8_0", "q4_0"] as WeightDType[]) {
  const packed = packWeight(
    hostWeightFromF32(dtype, new Float32Array(n * k).map((_, i) => (i % 97) / 97 - 0.5), [n, k]),
  );
  const bufs = [
    rt.uniform([1]),
    rt.buffer(new Float32Array(k).fill(1)),
    rt.buffer(packed.data),
    rt.buffer(n * 4),
  ];
  const bindings: Record<number, GPUBuffer> = { 0: bufs[0], 1: bufs[1], 2: bufs[2], 4: bufs[3] };
  if (packed.scales) bufs.push(bindings[3] = rt.buffer(packed.scales));
  const bytes = packed.data.byteLength + (packed.scales?.byteLength ?? 0) + k * 4;
  const results: string[] = [];
  for (const t of gemvCandidates(dtype, k)) {
    const o = gemvTuning(t);
    if (only && o.strategy !== only) continue;
    const ms = await timeDispatch(
      rt,
      gemvKernel({ dtype, n, k, ...o }),
      bindings,
      gemvGrid({ n, m: 1, ...o }),
      { repeats: 8, trials: 3 },
    );
    const gbs = bytes / (ms * 1e6);
    results.push(
      `${dtype} ${o.strategy} wg ${t.wg} rows ${t.rows} g ${o.scaleGroup}: ${ms.toFixed(2)} ms ${
        gbs.toFixed(2)
      } GB/s ${((gbs / copy.gbs) * 100).toFixed(0)}%`,
    );
  }
  console.log(results.join("\n"));
  bufs.forEach((b) => b.destroy());
}
rt.destroy();
ctx.destroy();
