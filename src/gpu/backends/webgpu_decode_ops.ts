/**
 * The decode-path ops of the WebGPU backends — {@link Backend.kvAppend},
 * {@link Backend.pagedAttention}, {@link Backend.sample} and {@link Backend.advance} — queued
 * (or, while a plan is captured, recorded) as kernel dispatches on
 * an {@link OpQueue} (the backend's step list, uniforms and pooled temporaries), so they add
 * no buffers of their own: split-K partials come from the pool and return to it after the
 * flush (or, for a captured plan, when the plan is destroyed).
 *
 * `webgpu-eager` always runs attention as split-K (64 keys per split) plus the merge pass.
 * `webgpu` picks the split from the block-table length: when one split of at most
 * {@link FUSED_ATTENTION_MAX_CONTEXT} keys covers the whole context, attention and merge run
 * as one fused kernel; longer contexts use split-K plus merge (both in the same submit).
 *
 * @example
 * ```ts ignore
 * const ops = createWebGpuDecodeOps(queue, { fused: true });
 * ops.pagedAttention(out, q, cache, batch);
 * ```
 *
 * @module
 */
import { advanceGeometry, type Backend, type Tensor } from "../ops/backend.ts";
import { pagedAttentionOptions } from "../kernels/attention.ts";
import type { KernelSource } from "../kernels/kernel_source.ts";
import { KERNELS } from "../kernels/memoized_kernels.ts";
import { kvAppendGrid } from "../kernels/kv_append.ts";
import { attentionSplits } from "../kernels/attention.ts";
import { rowGrid } from "../kernels/rmsnorm.ts";
import { pagedGeometry } from "../ops/paged_kv_cache.ts";
import { samplingRows } from "../ops/sampling_inputs.ts";

/** What the ops need from their backend. */
export interface OpQueue {
  /**
   * Queues a dispatch of the kernel `source` names for a step of `bucket` tokens (encoded at
   * the next flush), or records it while a plan is captured. With a warmed kernel set the
   * backend dispatches the set's compiled kernel for (source.name, bucket) — and throws a
   * `RangeError` when the set lacks it; without one, `source` itself.
   */
  dispatch(
    source: KernelSource,
    bucket: number,
    bindings: Record<number, GPUBuffer>,
    grid: [number, number, number],
  ): void;
  /**
   * A pooled 16-byte uniform holding `values` (returned to the pool after the flush, or when
   * the plan being captured is destroyed).
   */
  uniform(values: number[]): GPUBuffer;
  /** A pooled storage temporary of at least `bytes` (returned like a uniform). */
  temp(bytes: number): GPUBuffer;
  /** The buffer of one of the backend's tensors (throws `TypeError` for a foreign one). */
  buffer(tensor: Tensor): GPUBuffer;
}

// Kept importable from here; they live with the attention kernels (kernel sets use them
// without importing backends).
export { FUSED_ATTENTION_MAX_CONTEXT, pagedAttentionOptions } from "../kernels/attention.ts";

/** The ops this file adds to a WebGPU backend. */
export type DecodeOps = Pick<Backend, "kvAppend" | "pagedAttention" | "sample" | "advance">;

/** Creates the decode ops over `queue`; `fused` selects the `webgpu` behaviour. */
export function createWebGpuDecodeOps(queue: OpQueue, options: { fused: boolean }): DecodeOps {
  const b = queue.buffer;
  return {
    kvAppend(cache, k, v, batch) {
      const { tokens, maxBlocks } = pagedGeometry("kvAppend", cache, batch, k, false);
      pagedGeometry("kvAppend", cache, batch, v, false);
      const { kvHeads, headDim, blockSize } = cache;
      queue.dispatch(
        KERNELS.kvAppend({ kvHeads, headDim, paged: { blockSize, maxBlocks } }),
        tokens,
        {
          0: queue.uniform([tokens]),
          1: b(k),
          2: b(v),
          3: b(batch.positions),
          4: b(cache.k),
          5: b(cache.v),
          6: b(batch.tokenSeq),
          7: b(batch.blockTable),
        },
        kvAppendGrid(kvHeads, headDim, tokens),
      );
    },
    pagedAttention(out, q, cache, batch) {
      const { tokens, heads, maxBlocks } = pagedGeometry("pagedAttention", cache, batch, q, true);
      const geometry = pagedAttentionOptions({
        heads,
        kvHeads: cache.kvHeads,
        headDim: cache.headDim,
        blockSize: cache.blockSize,
        maxBlocks,
      }, options);
      const fuse = geometry.fuseMerge === true;
      const uniform = queue.uniform([tokens]);
      const inputs = {
        0: uniform,
        1: b(q),
        2: b(cache.k),
        3: b(cache.v),
        4: b(batch.blockTable),
        5: b(batch.tokenSeq),
        6: b(batch.positions),
      };
      const splits = attentionSplits(geometry);
      const ml = queue.temp(tokens * heads * splits * 2 * 4);
      if (fuse) {
        queue.dispatch(KERNELS.attentionSplit(geometry), tokens, { ...inputs, 7: b(out), 8: ml }, [
          heads,
          1,
          tokens,
        ]);
        return;
      }
      const partial = queue.temp(tokens * heads * splits * cache.headDim * 4);
      queue.dispatch(KERNELS.attentionSplit(geometry), tokens, { ...inputs, 7: partial, 8: ml }, [
        heads,
        splits,
        tokens,
      ]);
      queue.dispatch(
        KERNELS.attentionMerge(geometry),
        tokens,
        { 0: uniform, 1: partial, 2: ml, 3: b(out) },
        [heads, tokens, 1],
      );
    },
    sample(out, logits, sampling) {
      const rows = samplingRows(out, logits, sampling);
      queue.dispatch(
        KERNELS.sample({ vocab: logits.shape.at(-1)! }),
        rows,
        {
          0: queue.uniform([rows]),
          1: b(logits),
          2: b(sampling.params),
          3: b(sampling.state),
          4: b(out),
        },
        rowGrid(rows),
      );
    },
    advance(history, inputs) {
      const { tokens } = advanceGeometry(history, inputs);
      queue.dispatch(
        KERNELS.advance(),
        tokens,
        {
          0: queue.uniform([tokens]),
          1: b(inputs.state),
          2: b(inputs.positions),
          6: b(inputs.ids),
          7: b(history),
        },
        [1, 1, 1],
      );
    },
  };
}
