/**
 * Per-bucket matmul tuning for the `webgpu` backend: a map from matmul piece name (as
 * {@link matmulPiece} names it, bucket `m` included) to the tuning the compile cache chose,
 * built from a warm-up of the model's kernel set, and the kernel selection the backend makes
 * from it. A matmul whose (dtype, m, n, k, epilogue, bias) has a tuned piece runs that piece's
 * `generate(tuning)` on the matching grid; every other matmul runs the default GEMV/GEMM. The
 * piece name identifies (dtype, m, n, k, epilogue kind); bias and split sizes are not in it,
 * but the kernel is always generated from the op's own options, so a tuning shared across them
 * changes only speed, never results. Selection is pure (no device), so it is testable anywhere.
 *
 * An engine warms up, then creates the backend on the same runtime (so pipelines are reused):
 *
 * @example
 * ```ts ignore
 * const tuning = await warmUpMatmulTuning(cache, config, { buckets: [1, 8] });
 * const backend = createWebGpuBackend(runtime, { fused: true, tuning });
 * ```
 *
 * @module
 */
import type {
  CompileCacheKey,
  CompiledPiece,
  KernelCompileCache,
  WarmUpProgress,
} from "../compile/compile_cache.ts";
import { stableStringify } from "../device/content_hash.ts";
import {
  GEMV_MAX_ROWS,
  gemvTuning,
  type KernelPiece,
  matmulPiece,
  type MatmulPieceOptions,
  type TuningConfig,
} from "../compile/kernel_piece.ts";
import type { KernelSource } from "../kernels/kernel_source.ts";
import { gemvGrid, gemvKernel } from "../kernels/gemv.ts";
import { gemmGrid, gemmKernel, type GemmTile } from "../kernels/gemm.ts";
import { type LlamaKernelConfig, llamaKernelSet } from "../compile/model_kernel_set.ts";

/** Tuned matmul configurations by piece name (e.g. `gemv.q8_0.n64.k64.store.m1`). */
export type MatmulTuning = ReadonlyMap<string, TuningConfig>;

/** The kernel and grid one matmul op runs. */
export interface MatmulChoice {
  /** The generated kernel. */
  readonly source: KernelSource;
  /** Its workgroup grid. */
  readonly grid: [number, number, number];
  /** The tuning used, or `undefined` for the default kernel. */
  readonly tuning: TuningConfig | undefined;
}

/**
 * The kernel for a matmul of `options` (`m` = rows of x): the tuned piece when `tuning` holds
 * its name, else the default GEMV (m ≤ {@link GEMV_MAX_ROWS}) or GEMM.
 */
export function selectMatmul(options: MatmulPieceOptions, tuning?: MatmulTuning): MatmulChoice {
  const { dtype, m, n, k, bias } = options;
  const epilogue = options.epilogue ?? { kind: "store" };
  const piece = tuning?.size ? matmulPiece(options) : undefined;
  const chosen = piece && tuning!.get(piece.name);
  if (!piece || !chosen) {
    return m <= GEMV_MAX_ROWS
      ? {
        source: gemvKernel({ dtype, n, k, epilogue, bias }),
        grid: gemvGrid({ n, m }),
        tuning: undefined,
      }
      : {
        source: gemmKernel({ dtype, n, k, epilogue, bias }),
        grid: gemmGrid({ n, m }),
        tuning: undefined,
      };
  }
  return {
    source: piece.generate(chosen),
    grid: m <= GEMV_MAX_ROWS
      ? gemvGrid({ n, m, ...gemvTuning(chosen) })
      : gemmGrid({ n, m, tile: chosen as unknown as GemmTile }),
    tuning: chosen,
  };
}

/**
 * The tuning of every tunable piece (more than one candidate) of a warm-up: `items` and the
 * `compiled` results {@link KernelCompileCache.warmUp} returned for them, in the same order.
 * Throws `RangeError` when the two lists do not correspond.
 */
export function matmulTuningOf(
  items: readonly { key: CompileCacheKey; piece: KernelPiece }[],
  compiled: readonly CompiledPiece[],
): Map<string, TuningConfig> {
  if (items.length !== compiled.length) {
    throw new RangeError(
      `Cannot collect matmul tuning: ${items.length} pieces but ${compiled.length} results`,
    );
  }
  const tuning = new Map<string, TuningConfig>();
  items.forEach(({ piece }, i) => {
    if (piece.candidates.length < 2) return;
    const { key } = compiled[i];
    if (stableStringify(key) !== stableStringify(items[i].key)) {
      throw new RangeError(
        `Cannot collect matmul tuning: result ${i} has key ${stableStringify(key)}, ` +
          `not that of piece ${piece.name}`,
      );
    }
    tuning.set(piece.name, compiled[i].tuning);
  });
  return tuning;
}

/**
 * Warms up the fused (`webgpu`) kernel set of `config` for `buckets` through `cache` (tuning
 * misses, reusing cached choices) and returns the matmul tuning for
 * `createWebGpuBackend(runtime, { fused: true, tuning })`. Use the cache's runtime for the
 * backend, so the warmed pipelines are the ones it dispatches.
 */
export async function warmUpMatmulTuning(
  cache: KernelCompileCache,
  config: LlamaKernelConfig,
  options: {
    buckets: readonly number[];
    signal?: AbortSignal;
    onProgress?: (p: WarmUpProgress) => void;
  },
): Promise<Map<string, TuningConfig>> {
  const items = llamaKernelSet(config, { buckets: options.buckets, backend: "webgpu" });
  const compiled = await cache.warmUp(items, {
    signal: options.signal,
    onProgress: options.onProgress,
  });
  return matmulTuningOf(items, compiled);
}
