/**
 * The paged KV cache shared by every `Backend`: one layer's K and V, each a tensor of
 * `numBlocks · blockSize` slots of `[kvHeads, headDim]` f32 (vLLM's "NHD" layout, slot-major),
 * and the {@link PagedBatch} that addresses it (block table per sequence, sequence and
 * position per token). A token at position `p` of sequence `s` lives in slot
 * `blockTable[s, ⌊p / blockSize⌋] · blockSize + p mod blockSize`.
 *
 * @example
 * ```ts
 * import { createCpuBackend } from "../backends/cpu_backend.ts";
 * import { createPagedKvCache } from "./paged_kv_cache.ts";
 * const backend = createCpuBackend();
 * const cache = createPagedKvCache(backend, { numBlocks: 8, blockSize: 16, kvHeads: 2, headDim: 64 });
 * console.assert(cache.k.shape[0] === 128 && cache.layout === "NHD");
 * ```
 *
 * @module
 */
import type { Tensor, TensorAllocator } from "./tensor.ts";

/** Geometry of a paged KV cache (one layer). */
export interface PagedKvCacheLayout {
  /** Physical blocks. */
  readonly numBlocks: number;
  /** Token slots per block. */
  readonly blockSize: number;
  /** KV heads (`n_kv_heads`); query heads MUST be a multiple of it (GQA). */
  readonly kvHeads: number;
  /** Head dimension. */
  readonly headDim: number;
}

/** A paged KV cache: its layout and the backend tensors holding K and V. */
export interface PagedKvCache extends PagedKvCacheLayout {
  /** Memory order: `[numBlocks · blockSize, kvHeads, headDim]` for both K and V. */
  readonly layout: "NHD";
  /** Keys, f32 `[numBlocks · blockSize, kvHeads, headDim]`. */
  readonly k: Tensor;
  /** Values, same shape as {@link PagedKvCache.k}. */
  readonly v: Tensor;
}

/**
 * Which cache slots a batch of `T` tokens reads and writes. All three are u32 tensors of the
 * backend that runs the op. Positions MUST be `< maxBlocks · blockSize` and the block-table
 * entries they reach MUST be `< numBlocks` (`cpu` throws `RangeError`; the GPU backends do
 * not check, since the data lives on the device).
 */
export interface PagedBatch {
  /** `[seqs, maxBlocks]` physical block ids per sequence, in logical order. */
  readonly blockTable: Tensor;
  /** `[T]` sequence index of each token. */
  readonly tokenSeq: Tensor;
  /** `[T]` position of each token; attention covers positions `0..position` (inclusive). */
  readonly positions: Tensor;
}

/** Allocates a zeroed cache on `backend`; free it with `backend.release` or `destroy`. */
export function createPagedKvCache(
  backend: TensorAllocator,
  layout: PagedKvCacheLayout,
): PagedKvCache {
  for (const key of ["numBlocks", "blockSize", "kvHeads", "headDim"] as const) {
    if (!Number.isInteger(layout[key]) || layout[key] <= 0) {
      throw new RangeError(
        `Cannot create a paged KV cache: ${key} = ${layout[key]} is not a positive integer`,
      );
    }
  }
  const shape = [layout.numBlocks * layout.blockSize, layout.kvHeads, layout.headDim];
  return {
    numBlocks: layout.numBlocks,
    blockSize: layout.blockSize,
    kvHeads: layout.kvHeads,
    headDim: layout.headDim,
    layout: "NHD",
    k: backend.empty(shape),
    v: backend.empty(shape),
  };
}

/** Sizes of a paged op, derived from (and checked against) its tensors. */
export interface PagedGeometry {
  /** Tokens in the batch. */
  readonly tokens: number;
  /** Query heads (0 for KV append). */
  readonly heads: number;
  /** Sequences (block-table rows). */
  readonly seqs: number;
  /** Block-table row length. */
  readonly maxBlocks: number;
}

/**
 * Checks that `rows` (k/v for append, q for attention: `[T, heads · headDim]`) fit `cache` and
 * `batch`; throws `RangeError` naming `op` otherwise. `queryRows` selects the GQA check.
 */
export function pagedGeometry(
  op: string,
  cache: PagedKvCache,
  batch: PagedBatch,
  rows: Tensor,
  queryRows: boolean,
): PagedGeometry {
  const fail = (why: string) => new RangeError(`Cannot run ${op}: ${why}`);
  const width = rows.shape.at(-1)!;
  const tokens = rows.shape.length > 1 ? rows.shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
  const slots = cache.numBlocks * cache.blockSize, row = cache.kvHeads * cache.headDim;
  for (const [label, t] of [["k cache", cache.k], ["v cache", cache.v]] as const) {
    if (t.shape.reduce((a, b) => a * b, 1) !== slots * row) {
      throw fail(`${label} shape [${t.shape}] does not hold ${slots} slots of ${row}`);
    }
  }
  if (batch.tokenSeq.shape[0] !== tokens || batch.positions.shape[0] !== tokens) {
    throw fail(`tokenSeq and positions need ${tokens} entries (one per row)`);
  }
  for (const [label, t] of Object.entries(batch)) {
    if ((t as Tensor).kind !== "u32") throw fail(`${label} is not a u32 tensor`);
  }
  if (batch.blockTable.shape.length !== 2) throw fail("blockTable is not [seqs, maxBlocks]");
  const [seqs, maxBlocks] = batch.blockTable.shape;
  let heads = 0;
  if (queryRows) {
    heads = width / cache.headDim;
    if (!Number.isInteger(heads) || heads % cache.kvHeads) {
      throw fail(`query width ${width} is not a multiple of kvHeads · headDim = ${row}`);
    }
  } else if (width !== row) {
    throw fail(`row width ${width} is not kvHeads · headDim = ${row}`);
  }
  return { tokens, heads, seqs, maxBlocks };
}
