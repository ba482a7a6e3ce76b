/**
 * What the kernel cache directory is named after (vLLM's `compute_hash` over environment,
 * config, code and compiler): adapter identity, features, WGSL language features, limits,
 * runtime and version, a hash of the kernel code generator, the model config and the quant
 * scheme. Changing any factor
 * changes the directory, so stale artefacts are never even read. The factors are written
 * beside the cache as `cache_key_factors.json` for debugging.
 *
 * @example
 * ```ts
 * import { codegenHash } from "./cache_key_factors.ts";
 * console.assert(codegenHash().length === 16);
 * ```
 *
 * @module
 */
import { fnv1aHex, sha256Hex, stableStringify } from "../device/content_hash.ts";
import type { GpuContext } from "../device/gpu_context.ts";
import { gemvKernel } from "../kernels/gemv.ts";
import { GEMM_CANDIDATES, GEMV_CANDIDATES, gemvBucketCandidates } from "./kernel_piece.ts";
import { gemmKernel } from "../kernels/gemm.ts";
import { rmsnormKernel } from "../kernels/rmsnorm.ts";
import { ropeKernel } from "../kernels/rope.ts";
import { elementwiseKernel } from "../kernels/elementwise.ts";
import { softmaxKernel } from "../kernels/softmax.ts";
import { embeddingKernel } from "../kernels/embedding.ts";
import { kvAppendKernel } from "../kernels/kv_append.ts";
import { attentionMergeKernel, attentionSplitKernel } from "../kernels/attention.ts";
import { argmaxKernel } from "../kernels/argmax.ts";
import { sampleKernel } from "../kernels/sample.ts";
import { decodeAdvanceKernel } from "../kernels/decode_advance.ts";
import { quantizeRowsKernel } from "../kernels/quantize_rows.ts";
import { gemvI8Kernel } from "../kernels/gemv_i8.ts";
import { GEMV_I8_CANDIDATES } from "./gemv_i8_tuning.ts";

/**
 * Version of the persisted cache format; bump on any layout change. 2: entries are keyed by
 * (bucket, operation name, backend) instead of the piece's index, and matmul operation names
 * carry `.bias` and no `.m<bucket>` (a format-1 cache is stale: rebuilt, never misread). 3: GEMV
 * tunings of buckets m > 1 carry `tokens` (token rows per pass).
 */
export const KERNEL_CACHE_FORMAT = 3;

/** The inputs of the cache directory hash. */
export interface CacheKeyFactors {
  /** Adapter vendor, architecture, device, description, fallback flag. */
  readonly adapter: Readonly<Record<string, string | boolean>>;
  /** Enabled device features, sorted. */
  readonly features: readonly string[];
  /** WGSL language features of the device's `GPU` object, sorted (kernels may depend on them). */
  readonly wgslFeatures: readonly string[];
  /** Granted limits relevant to kernels. */
  readonly limits: Readonly<Record<string, number>>;
  /** Runtime name and version, plus the WebGPU provider. */
  readonly runtime: string;
  /** {@link codegenHash} of the kernel templates. */
  readonly kernelSourceHash: string;
  /** Model configuration (any JSON value). */
  readonly model: unknown;
  /** Quantisation scheme of the weights. */
  readonly quant: string;
  /** {@link KERNEL_CACHE_FORMAT}. */
  readonly format: number;
}

/**
 * Hash of the code generator: every template rendered with fixed probe parameters. Any edit to
 * a template changes its output and so this hash.
 */
export function codegenHash(): string {
  const probe = { heads: 4, kvHeads: 2, headDim: 16, blockSize: 16, maxBlocks: 4 };
  const sources = [
    ...(["f32", "f16", "q8_0", "q4_0"] as const).flatMap((dtype) => [
      gemvKernel({ dtype, n: 64, k: 64 }).code,
      gemvKernel({ dtype, n: 64, k: 64, epilogue: { kind: "gate_up_silu" } }).code,
      gemmKernel({
        dtype,
        n: 64,
        k: 64,
        bias: true,
        epilogue: { kind: "split3", sizes: [32, 16, 16] },
      }).code,
      embeddingKernel({ dtype, dim: 64 }).code,
    ]),
    gemvKernel({ dtype: "f32", n: 8, k: 7 }).code,
    ...(["f32", "f16", "q8_0", "q4_0"] as const).map((dtype) =>
      gemvKernel({
        dtype,
        n: 64,
        k: 64,
        strategy: "wide",
        threadsPerRow: 16,
        rows: 2,
        unroll: 2,
        epilogue: { kind: "gate_up_silu" },
      }).code
    ),
    ...(["q8_0", "q4_0"] as const).map((dtype) =>
      gemvI8Kernel({
        dtype,
        n: 64,
        k: 64,
        bias: true,
        epilogue: { kind: "split3", sizes: [32, 16, 16] },
      }).code
    ),
    quantizeRowsKernel({ k: 64 }).code,
    // the tuning space: a new candidate must re-tune, not reuse a winner picked without it
    JSON.stringify([
      GEMV_CANDIDATES,
      GEMM_CANDIDATES,
      GEMV_I8_CANDIDATES,
      gemvBucketCandidates(16),
    ]),
    ...(["q8_0", "f16"] as const).flatMap((dtype) =>
      (["workgroup", "lane", "wide"] as const).map((strategy) =>
        gemvKernel({ dtype, n: 64, k: 64, strategy, tokens: 3, epilogue: { kind: "gate_up_silu" } })
          .code
      )
    ),
    rmsnormKernel({ dim: 64, eps: 1e-6 }).code,
    rmsnormKernel({ dim: 64, eps: 1e-6, fusedResidual: true }).code,
    ropeKernel({ heads: 4, headDim: 16, theta: 1e4, mode: "neox" }).code,
    ropeKernel({ heads: 4, headDim: 16, theta: 1e4, mode: "interleaved" }).code,
    elementwiseKernel("add").code,
    elementwiseKernel("silu_mul").code,
    softmaxKernel({ cols: 64 }).code,
    kvAppendKernel(probe).code,
    attentionSplitKernel(probe).code,
    attentionMergeKernel(probe).code,
    argmaxKernel({ vocab: 64 }).code,
    sampleKernel({ vocab: 64 }).code,
    decodeAdvanceKernel().code,
  ];
  return fnv1aHex(sources.join("\n"));
}

/** Collects the factors for a device, model config and quant scheme. */
export function cacheKeyFactors(
  context: GpuContext,
  model: unknown,
  quant: string,
): CacheKeyFactors {
  return {
    adapter: { ...context.adapter },
    features: [...context.features].sort(),
    wgslFeatures: [...context.wgslFeatures].sort(),
    limits: { ...context.limits },
    runtime: `${context.runtime} (${context.providerName})`,
    kernelSourceHash: codegenHash(),
    model,
    quant,
    format: KERNEL_CACHE_FORMAT,
  };
}

/** SHA-256 of the canonical JSON of the factors; the cache directory is named by its prefix. */
export function hashCacheKeyFactors(factors: CacheKeyFactors): Promise<string> {
  return sha256Hex(stableStringify(factors));
}

/** Environment variable naming the cache root (read by the caller, see {@link kernelCacheEnv}). */
export const KERNEL_CACHE_DIR_ENV = "SLUICE_KERNEL_CACHE_DIR";
/** Environment variable that disables the persistent cache when set to `1`. */
export const DISABLE_KERNEL_CACHE_ENV = "SLUICE_DISABLE_KERNEL_CACHE";

/**
 * Cache options from an environment map the caller supplies (this module reads no globals):
 * `{root, disabled}`. `root` defaults to `defaultRoot`.
 */
export function kernelCacheEnv(
  env: Readonly<Record<string, string | undefined>>,
  defaultRoot: string,
): { root: string; disabled: boolean } {
  const flag = env[DISABLE_KERNEL_CACHE_ENV];
  return {
    root: env[KERNEL_CACHE_DIR_ENV] || defaultRoot,
    disabled: flag === "1" || flag === "true",
  };
}
