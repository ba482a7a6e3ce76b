/**
 * Matmul kernel selection for the WebGPU backends: a matmul op looks its kernel up in the
 * {@link CompiledKernelSet} a warm-up returned, by (operation, bucket) — the operation named
 * by {@link matmulOpName}, the bucket being the op's row count `m` — and dispatches the
 * compiled, tuned source on the tuning's grid without generating WGSL. A matmul the set has
 * no kernel for (no set, or a row count outside the warmed buckets) runs the default
 * GEMV/GEMM, generated once per shape by the shared memoised generators (and its pipeline
 * looked up by WGSL hash: the one matmul path that does). Selection is pure
 * (no device), so it is testable anywhere.
 *
 * An engine warms up, then creates the backend on the same runtime (so pipelines are reused):
 *
 * @example
 * ```ts ignore
 * const kernels = await warmUpKernelSet(cache, config, { buckets: [1, 8] });
 * const backend = createWebGpuBackend(runtime, { fused: true, kernels });
 * ```
 *
 * @module
 */
import type { KernelCompileCache, WarmUpProgress } from "../compile/compile_cache.ts";
import type { CompiledKernelSet, QueuedKernel } from "../compile/kernel_set.ts";
import {
  GEMV_MAX_ROWS,
  gemvTuning,
  matmulOpName,
  type MatmulPieceOptions,
  type TuningConfig,
} from "../compile/kernel_piece.ts";
import type { KernelSource } from "../kernels/kernel_source.ts";
import { KERNELS } from "../kernels/memoized_kernels.ts";
import { gemvGrid } from "../kernels/gemv.ts";
import { gemvDefaultTokens } from "../kernels/gemv_tokens.ts";
import { gemmGrid, type GemmTile } from "../kernels/gemm.ts";
import { type LlamaKernelConfig, llamaKernelSet } from "../compile/model_kernel_set.ts";

/** The kernel and grid one matmul op runs. */
export interface MatmulChoice {
  /** The kernel: the set's compiled source, or the default one. */
  readonly source: KernelSource;
  /** Its workgroup grid. */
  readonly grid: [number, number, number];
  /** The set's tuning, or `undefined` for the default kernel. */
  readonly tuning: TuningConfig | undefined;
  /**
   * What dispatch runs: the set's compiled entry (its own pipeline, no lookup by WGSL hash),
   * or the default `source` (its pipeline looked up by hash, compiled once).
   */
  readonly kernel: QueuedKernel;
}

/**
 * The kernel for a matmul of `options` (`m` = rows of x): the one `kernels` holds for
 * ({@link matmulOpName}(options), m), else the default GEMV (m ≤ {@link GEMV_MAX_ROWS}; for
 * m > 1 token-batched with `gemvDefaultTokens(m)` rows per pass) or GEMM.
 */
export function selectMatmul(
  options: MatmulPieceOptions,
  kernels?: CompiledKernelSet,
): MatmulChoice {
  const { dtype, m, n, k, bias } = options;
  const epilogue = options.epilogue ?? { kind: "store" };
  const compiled = kernels?.get(matmulOpName(options), m);
  if (!compiled) {
    // m > 1: token-batched (each weight decoded once per pass of `tokens` rows).
    const tokens = gemvDefaultTokens(m);
    const source = m <= GEMV_MAX_ROWS
      ? KERNELS.gemv({ dtype, n, k, epilogue, bias, ...(tokens > 1 && { tokens }) })
      : KERNELS.gemm({ dtype, n, k, epilogue, bias });
    const grid = m <= GEMV_MAX_ROWS ? gemvGrid({ n, m, tokens }) : gemmGrid({ n, m });
    return { source, grid, tuning: undefined, kernel: source };
  }
  const tuning = compiled.tuning;
  return {
    source: compiled.source,
    grid: m <= GEMV_MAX_ROWS
      ? gemvGrid({ n, m, ...gemvTuning(tuning) })
      : gemmGrid({ n, m, tile: tuning as unknown as GemmTile }),
    tuning,
    kernel: compiled,
  };
}

/**
 * Warms up the `backend` kernel set of `config` for `buckets` through `cache` (tuning misses,
 * reusing cached choices) and returns it for `createWebGpuBackend(runtime, { kernels })`. Use
 * the cache's runtime for the backend, so the warmed pipelines are the ones it dispatches.
 */
export async function warmUpKernelSet(
  cache: KernelCompileCache,
  config: LlamaKernelConfig,
  options: {
    buckets: readonly number[];
    backend?: "webgpu" | "webgpu-eager";
    /** The int8 GEMV mode, already resolved for the device (`resolveInt8GemvMode`). */
    int8?: "off" | "auto" | "force";
    signal?: AbortSignal;
    onProgress?: (p: WarmUpProgress) => void;
  },
): Promise<CompiledKernelSet> {
  const items = llamaKernelSet(config, {
    buckets: options.buckets,
    backend: options.backend ?? "webgpu",
    int8: options.int8,
  });
  return await cache.warmUp(items, { signal: options.signal, onProgress: options.onProgress });
}
