/**
 * The kernel generators a model's kernel set and the WebGPU backends share, memoised (see
 * {@link memoizeKernel}): a warm-up that builds a set generates each kernel once, and a
 * backend dispatching the same kernel with equal options gets that same {@link KernelSource}
 * back without generating WGSL again. Everything that builds or dispatches these kernels
 * SHOULD call them through here, not through the raw generators.
 *
 * @example
 * ```ts
 * import { KERNELS } from "./memoized_kernels.ts";
 * console.assert(KERNELS.rmsnorm({ dim: 64, eps: 1e-6 }) === KERNELS.rmsnorm({ eps: 1e-6, dim: 64 }));
 * ```
 *
 * @module
 */
import { memoizeKernel } from "./kernel_source.ts";
import { elementwiseKernel } from "./elementwise.ts";
import { embeddingKernel } from "./embedding.ts";
import { softmaxKernel } from "./softmax.ts";
import { rmsnormKernel } from "./rmsnorm.ts";
import { ropeKernel } from "./rope.ts";
import { argmaxKernel } from "./argmax.ts";
import { kvAppendKernel } from "./kv_append.ts";
import { attentionMergeKernel, attentionSplitKernel } from "./attention.ts";
import { sampleKernel } from "./sample.ts";
import { decodeAdvanceKernel } from "./decode_advance.ts";
import { gemvKernel } from "./gemv.ts";
import { gemmKernel } from "./gemm.ts";
import { quantizeRowsKernel } from "./quantize_rows.ts";

/** The memoised generators: each has its raw generator's signature. */
export interface MemoizedKernels {
  /** {@link elementwiseKernel}, memoised. */
  readonly elementwise: typeof elementwiseKernel;
  /** {@link embeddingKernel}, memoised. */
  readonly embedding: typeof embeddingKernel;
  /** {@link softmaxKernel}, memoised. */
  readonly softmax: typeof softmaxKernel;
  /** {@link rmsnormKernel}, memoised. */
  readonly rmsnorm: typeof rmsnormKernel;
  /** {@link ropeKernel}, memoised. */
  readonly rope: typeof ropeKernel;
  /** {@link argmaxKernel}, memoised. */
  readonly argmax: typeof argmaxKernel;
  /** {@link kvAppendKernel}, memoised. */
  readonly kvAppend: typeof kvAppendKernel;
  /** {@link attentionSplitKernel}, memoised. */
  readonly attentionSplit: typeof attentionSplitKernel;
  /** {@link attentionMergeKernel}, memoised. */
  readonly attentionMerge: typeof attentionMergeKernel;
  /** {@link sampleKernel}, memoised. */
  readonly sample: typeof sampleKernel;
  /** {@link decodeAdvanceKernel}, memoised. */
  readonly advance: typeof decodeAdvanceKernel;
  /** {@link gemvKernel}, memoised (default, untuned matmuls). */
  readonly gemv: typeof gemvKernel;
  /** {@link gemmKernel}, memoised (default, untuned matmuls). */
  readonly gemm: typeof gemmKernel;
  /** {@link quantizeRowsKernel}, memoised (the int8 GEMV's activation quantisation). */
  readonly quantizeRows: typeof quantizeRowsKernel;
}

/** The shared memoised generators, one per kernel family. */
export const KERNELS: MemoizedKernels = {
  elementwise: memoizeKernel(elementwiseKernel),
  embedding: memoizeKernel(embeddingKernel),
  softmax: memoizeKernel(softmaxKernel),
  rmsnorm: memoizeKernel(rmsnormKernel),
  rope: memoizeKernel(ropeKernel),
  argmax: memoizeKernel(argmaxKernel),
  kvAppend: memoizeKernel(kvAppendKernel),
  attentionSplit: memoizeKernel(attentionSplitKernel),
  attentionMerge: memoizeKernel(attentionMergeKernel),
  sample: memoizeKernel(sampleKernel),
  advance: memoizeKernel(decodeAdvanceKernel),
  gemv: memoizeKernel(gemvKernel),
  gemm: memoizeKernel(gemmKernel),
  quantizeRows: memoizeKernel(quantizeRowsKernel),
};
