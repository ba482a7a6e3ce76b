/**
 * The int8-activation GEMV as an autotuner candidate (`kernels/gemv_i8.ts`): its candidates,
 * whether a device may use it, and its benchmark (quantise x, then the GEMV: the two
 * dispatches the backend runs, timed together, so it wins only when the pair is faster than
 * the float kernel alone).
 *
 * The path exists only for Q8_0 / Q4_0 GEMVs (m ≤ `GEMV_MAX_ROWS`) on devices whose WGSL has
 * `packed_4x8_integer_dot_product` ({@link DOT4_FEATURE}, detected through
 * `GpuContext.wgslFeatures`, which is part of the device fingerprint and of the compile-cache
 * factors). {@link Int8GemvMode} says how a kernel set offers it: `off` never, `auto` as extra
 * candidates beside the float ones (the autotuner decides; untuned sets keep the float
 * default), `force` alone (tests and benchmarks).
 *
 * @example
 * ```ts
 * import { GEMV_I8_CANDIDATES, resolveInt8GemvMode } from "./gemv_i8_tuning.ts";
 * console.assert(GEMV_I8_CANDIDATES.every((t) => t.i8 === 1 && t.wide === 1));
 * console.assert(resolveInt8GemvMode("auto", new Set()) === "off");
 * ```
 *
 * @module
 */
import type { Dispatch, KernelRuntime } from "./kernel_runtime.ts";
import type { MatmulEpilogue } from "../kernels/gemv.ts";
import { gemvGrid } from "../kernels/gemv.ts";
import { gemvI8Kernel, type GemvI8Options } from "../kernels/gemv_i8.ts";
import {
  DOT4_FEATURE,
  quantizedRowBytes,
  quantizedScaleBytes,
  quantizeRowsGrid,
} from "../kernels/quantize_rows.ts";
import { KERNELS } from "../kernels/memoized_kernels.ts";
import type { KernelSource, WeightDType } from "../kernels/kernel_source.ts";
import { hostWeightFromF32, packWeight } from "../kernels/host_weight.ts";
import { GpuError } from "../device/gpu_error.ts";

/** How a kernel set offers the int8-activation GEMV (see the module comment). */
export type Int8GemvMode = "off" | "auto" | "force";

/**
 * Candidates: the `wide` shape (`wide: 1`, so `gemvTuning` / `gemvGrid` treat them as `wide`)
 * plus `i8: 1`. One long row group per workgroup, several short ones (short K: the 100m
 * fixture's Q4_0 rows are 16–44 units), and `tpr: 1` (an invocation walks K for its rows, the
 * `lane` shape that SIMD-on-CPU devices prefer).
 */
export const GEMV_I8_CANDIDATES: readonly Readonly<Record<string, number>>[] = [
  { wg: 128, tpr: 128, rows: 4, unroll: 2 },
  { wg: 128, tpr: 128, rows: 8, unroll: 1 },
  { wg: 64, tpr: 64, rows: 4, unroll: 2 },
  { wg: 256, tpr: 32, rows: 2, unroll: 2 },
  { wg: 128, tpr: 32, rows: 4, unroll: 1 },
  { wg: 128, tpr: 16, rows: 4, unroll: 1 },
  { wg: 64, tpr: 8, rows: 4, unroll: 1 },
  { wg: 64, tpr: 1, rows: 4, unroll: 1 },
  { wg: 32, tpr: 1, rows: 2, unroll: 1 },
].map((t) => ({ ...t, lane: 0, wide: 1, i8: 1 }));

/** Whether the WGSL language features `wgslFeatures` allow the int8 kernels. */
export function supportsInt8Gemv(wgslFeatures: ReadonlySet<string>): boolean {
  return wgslFeatures.has(DOT4_FEATURE);
}

/**
 * The mode a kernel set of a device with `wgslFeatures` uses for `requested`: `auto` becomes
 * `off` without the feature; `force` without it throws an `unsupported` {@link GpuError}.
 */
export function resolveInt8GemvMode(
  requested: Int8GemvMode,
  wgslFeatures: ReadonlySet<string>,
): Int8GemvMode {
  if (requested === "off" || supportsInt8Gemv(wgslFeatures)) return requested;
  if (requested === "auto") return "off";
  throw new GpuError(
    "unsupported",
    `Cannot force the int8 GEMV: the device's WGSL lacks ${DOT4_FEATURE}`,
  );
}

/** Whether a matmul of `dtype` and `m` rows can take the int8 path. */
export function int8GemvApplies(dtype: WeightDType, m: number, maxRows: number): boolean {
  return (dtype === "q8_0" || dtype === "q4_0") && m <= maxRows;
}

/** The {@link gemvI8Kernel} options of a candidate. */
export function gemvI8Tuning(
  t: Readonly<Record<string, number>>,
): Pick<GemvI8Options, "workgroupSize" | "rows" | "threadsPerRow" | "unroll"> {
  return { workgroupSize: t.wg, rows: t.rows, threadsPerRow: t.tpr, unroll: t.unroll };
}

/** Shape of an int8 GEMV piece. */
export interface GemvI8PieceShape {
  readonly dtype: "q8_0" | "q4_0";
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly bias?: boolean;
  readonly epilogue?: MatmulEpilogue;
}

/** Generates the int8 GEMV of a candidate. */
export function gemvI8Source(
  shape: GemvI8PieceShape,
  t: Readonly<Record<string, number>>,
): KernelSource {
  const { dtype, n, k, bias, epilogue } = shape;
  return gemvI8Kernel({ dtype, n, k, bias, epilogue, ...gemvI8Tuning(t) });
}

/**
 * The benchmark of a compiled int8 candidate: quantise a row of ones, then the GEMV over a
 * weight of 0.01s, as one dispatch list (`prelude` then `dispatch`). `dispose` destroys every
 * buffer it made.
 */
export async function gemvI8Benchmark(
  runtime: KernelRuntime,
  pipeline: GPUComputePipeline,
  t: Readonly<Record<string, number>>,
  shape: GemvI8PieceShape,
): Promise<{ prelude: readonly Dispatch[]; dispatch: Dispatch; dispose(): void }> {
  const { m, n, k, dtype } = shape;
  const quantize = KERNELS.quantizeRows({ k });
  const quantizePipeline = await runtime.pipeline(quantize);
  const paired = shape.epilogue?.kind === "gate_up_silu";
  const packed = packWeight(
    hostWeightFromF32(dtype, new Float32Array((paired ? 2 : 1) * n * k).fill(0.01), [
      (paired ? 2 : 1) * n,
      k,
    ]),
  );
  const buffers: GPUBuffer[] = [];
  const keep = (b: GPUBuffer) => (buffers.push(b), b);
  const sizes = shape.epilogue?.kind === "split3" ? shape.epilogue.sizes : [n];
  const uniform = keep(runtime.uniform([m]));
  const xq = keep(runtime.buffer(quantizedRowBytes(m, k)));
  const xd = keep(runtime.buffer(quantizedScaleBytes(m, k)));
  const bindings: Record<number, GPUBuffer> = {
    0: uniform,
    1: xq,
    2: keep(runtime.buffer(packed.data)),
    3: keep(runtime.buffer(packed.scales!)),
    4: keep(runtime.buffer(m * sizes[0] * 4)),
    8: xd,
  };
  if (shape.bias) bindings[5] = keep(runtime.buffer(n * 4));
  if (sizes.length === 3) {
    bindings[6] = keep(runtime.buffer(m * sizes[1] * 4));
    bindings[7] = keep(runtime.buffer(m * sizes[2] * 4));
  }
  const x = keep(runtime.buffer(new Float32Array(m * k).fill(1)));
  return {
    prelude: [{
      pipeline: quantizePipeline,
      bindGroup: runtime.bindGroup(quantizePipeline, { 0: uniform, 1: x, 2: xq, 3: xd }),
      grid: quantizeRowsGrid(k, m),
      label: "bench.quantize",
    }],
    dispatch: {
      pipeline,
      bindGroup: runtime.bindGroup(pipeline, bindings),
      grid: gemvGrid({
        n,
        m,
        strategy: "wide",
        rows: t.rows,
        workgroupSize: t.wg,
        threadsPerRow: t.tpr,
      }),
      label: "bench",
    },
    dispose: () => buffers.forEach((b) => b.destroy()),
  };
}
