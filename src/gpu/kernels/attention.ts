/**
 * Paged attention with GQA, split-K over the context and a merge pass (flash-decoding).
 *
 * Every query token t carries its sequence index and position; it attends causally to KV
 * positions `0..position[t]` of its sequence, read through that sequence's block table. The
 * grid is static — `(heads, splits, tokens)` with `splits = ceil(maxContext / split)` — so a
 * recorded decode plan never re-dispatches as sequences grow; splits past a token's context
 * write an empty partial (`m = -3e38, l = 0`) that the merge ignores. The same kernel serves
 * decode (one token per sequence) and chunked prefill (many tokens, increasing positions).
 *
 * Pass 1 (`attentionSplitKernel`): per (head, split, token), scores of `split` keys, local
 * max `m`, `l = Σ exp(s − m)` and unnormalised `Σ p·v`. Pass 2 (`attentionMergeKernel`):
 * `out = Σ_s e^{m_s−M} acc_s / Σ_s e^{m_s−M} l_s`. With `fuseMerge` (only when one split
 * covers the whole context) pass 1 normalises by its own `l` and writes the output directly:
 * attention and merge in one kernel.
 *
 * @example
 * ```ts
 * import { attentionSplitKernel } from "./attention.ts";
 * const k = attentionSplitKernel({ heads: 8, kvHeads: 2, headDim: 16, blockSize: 16, maxBlocks: 4 });
 * console.assert(k.code.includes("blockTable"));
 * ```
 *
 * @module
 */
import {
  defineKernel,
  type KernelSource,
  positiveInt,
  powerOfTwo,
  treeReduce,
} from "./kernel_source.ts";
import { f32Literal } from "./rmsnorm.ts";

/** Geometry shared by both attention passes. */
export interface AttentionOptions {
  /** Query heads. */
  readonly heads: number;
  /** KV heads; must divide `heads` (GQA). */
  readonly kvHeads: number;
  /** Head dimension. */
  readonly headDim: number;
  /** Tokens per KV cache block. */
  readonly blockSize: number;
  /** Block-table row length: max context = maxBlocks · blockSize. */
  readonly maxBlocks: number;
  /** Keys per split = invocations per workgroup (power of two). Default 64. */
  readonly split?: number;
  /** Softmax scale; default 1/sqrt(headDim). */
  readonly scale?: number;
  /**
   * Pass 1 writes the final output `[T, H, D]` to binding 7 (no merge pass); binding 8 still
   * receives each row's softmax statistics (m, l). Requires `attentionSplits(options) === 1`.
   * (A variant without binding 8 gave wrong rows on Dawn's GL ES backend, npm `webgpu` 0.6.2
   * on Mesa, while lavapipe was right; keeping the binding avoids it.)
   */
  readonly fuseMerge?: boolean;
}

/** Number of splits for a geometry (the static y extent of pass 1). */
export function attentionSplits(options: AttentionOptions): number {
  return Math.ceil((options.maxBlocks * options.blockSize) / (options.split ?? 64));
}

/**
 * Pass 1. Bindings: 0 uniform `{tokens}`, 1 q `[T, H, D]`, 2 K cache, 3 V cache,
 * 4 block table `[seqs, maxBlocks]` u32, 5 token → sequence u32, 6 positions u32,
 * 7 partial acc `[T, H, S, D]`, 8 partial (m, l) `[T, H, S, 2]`. Grid `(H, S, T)`.
 */
export function attentionSplitKernel(options: AttentionOptions): KernelSource {
  const { h, hkv, d, split, splits } = geometry(options);
  const scale = options.scale ?? 1 / Math.sqrt(d);
  const fused = options.fuseMerge ?? false;
  if (fused && splits !== 1) {
    throw new RangeError(
      `Cannot generate fused attention: ${splits} splits of ${split} keys (fuseMerge needs 1)`,
    );
  }
  const code = `
const H: u32 = ${h}u;
const HKV: u32 = ${hkv}u;
const D: u32 = ${d}u;
const BS: u32 = ${options.blockSize}u;
const MAXB: u32 = ${options.maxBlocks}u;
const SPLIT: u32 = ${split}u;
const NSPLIT: u32 = ${splits}u;
const SCALE: f32 = ${f32Literal(scale)};
struct Params { tokens: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k_cache: array<f32>;
@group(0) @binding(3) var<storage, read> v_cache: array<f32>;
@group(0) @binding(4) var<storage, read> blockTable: array<u32>;
@group(0) @binding(5) var<storage, read> tokenSeq: array<u32>;
@group(0) @binding(6) var<storage, read> positions: array<u32>;
@group(0) @binding(7) var<storage, read_write> partial: array<f32>;
@group(0) @binding(8) var<storage, read_write> ml: array<f32>;
var<workgroup> qs: array<f32, D>;
var<workgroup> red: array<f32, SPLIT>;
var<workgroup> pr: array<f32, SPLIT>;
var<workgroup> slots: array<u32, SPLIT>;

@compute @workgroup_size(SPLIT)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let s = wid.y;
  let t = min(wid.z, params.tokens - 1u);
  let in_range = wid.z < params.tokens;
  let kvh = h / (H / HKV);
  let ctx = positions[t] + 1u;
  let seq = tokenSeq[t];
  for (var i = lid; i < D; i += SPLIT) { qs[i] = q[(t * H + h) * D + i]; }
  let j = s * SPLIT + lid;
  let valid = j < ctx;
  var slot = 0u;
  if (valid) { slot = blockTable[seq * MAXB + j / BS] * BS + j % BS; }
  slots[lid] = slot;
  workgroupBarrier();
  var score = -3.0e38;
  if (valid) {
    let base = (slot * HKV + kvh) * D;
    var acc = 0.0;
    for (var i = 0u; i < D; i++) { acc = fma(qs[i], k_cache[base + i], acc); }
    score = acc * SCALE;
  }
  red[lid] = score;
  ${treeReduce(split, "max")}
  let mx = red[0];
  workgroupBarrier();
  let p = select(0.0, exp(score - mx), valid);
  pr[lid] = p;
  red[lid] = p;
  ${treeReduce(split, "sum")}
  let l = red[0];
  let n_valid = min(SPLIT, ctx - min(ctx, s * SPLIT));
  let out = ((t * H + h) * NSPLIT + s);
  for (var i = lid; i < D; i += SPLIT) {
    var acc = 0.0;
    for (var r = 0u; r < n_valid; r++) { acc = fma(pr[r], v_cache[(slots[r] * HKV + kvh) * D + i], acc); }
    if (in_range) { partial[out * D + i] = acc${fused ? " / l" : ""}; }
  }
  if (lid == 0u && in_range) {
    ml[out * 2u] = select(-3.0e38, mx, n_valid > 0u);
    ml[out * 2u + 1u] = l;
  }
}
`;
  return defineKernel(
    `attention_${
      fused ? "fused" : "split"
    }.h${h}.kv${hkv}.d${d}.bs${options.blockSize}.mb${options.maxBlocks}.s${split}`,
    {
      fused,
      h,
      hkv,
      d,
      blockSize: options.blockSize,
      maxBlocks: options.maxBlocks,
      split,
      wg: [split],
    },
    code,
  );
}

/** Invocations per merge workgroup. */
export const ATTENTION_MERGE_WORKGROUP = 64;

/** Pass 2. Bindings: 0 uniform `{tokens}`, 1 partial acc, 2 partial (m, l), 3 out `[T, H, D]`. Grid `(H, T)`. */
export function attentionMergeKernel(options: AttentionOptions): KernelSource {
  const { h, d, splits } = geometry(options);
  const code = `
const H: u32 = ${h}u;
const D: u32 = ${d}u;
const NSPLIT: u32 = ${splits}u;
struct Params { tokens: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read> ml: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${ATTENTION_MERGE_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  if (t >= params.tokens) { return; }
  let base = (t * H + h) * NSPLIT;
  var m = -3.0e38;
  for (var s = 0u; s < NSPLIT; s++) { m = max(m, ml[(base + s) * 2u]); }
  var l = 0.0;
  for (var s = 0u; s < NSPLIT; s++) { l += exp(ml[(base + s) * 2u] - m) * ml[(base + s) * 2u + 1u]; }
  let inv = 1.0 / l;
  for (var i = lid; i < D; i += ${ATTENTION_MERGE_WORKGROUP}u) {
    var acc = 0.0;
    for (var s = 0u; s < NSPLIT; s++) {
      let e = exp(ml[(base + s) * 2u] - m);
      if (e > 0.0) { acc += e * partial[(base + s) * D + i]; }
    }
    out[(t * H + h) * D + i] = acc * inv;
  }
}
`;
  return defineKernel(`attention_merge.h${h}.d${d}.s${splits}`, {
    h,
    d,
    splits,
    wg: [ATTENTION_MERGE_WORKGROUP],
  }, code);
}

function geometry(options: AttentionOptions) {
  const h = positiveInt(options.heads, "heads");
  const hkv = positiveInt(options.kvHeads, "kvHeads");
  if (h % hkv) {
    throw new RangeError(`Cannot generate attention: kvHeads ${hkv} does not divide heads ${h}`);
  }
  positiveInt(options.blockSize, "blockSize");
  positiveInt(options.maxBlocks, "maxBlocks");
  const split = powerOfTwo(options.split ?? 64, "split");
  return {
    h,
    hkv,
    d: positiveInt(options.headDim, "headDim"),
    split,
    splits: attentionSplits(options),
  };
}

/** Longest context (block-table row, in tokens) that `webgpu` attends in one fused kernel. */
export const FUSED_ATTENTION_MAX_CONTEXT = 256;

/** Keys per split of the split-K path. */
const SPLIT_KEYS = 64;

/**
 * The attention kernel options a WebGPU backend uses for a paged geometry: one fused kernel
 * when `fused` and the block-table row spans at most {@link FUSED_ATTENTION_MAX_CONTEXT}
 * tokens, otherwise split-K (64 keys per split) plus the merge pass. Kernel sets warm up
 * exactly these kernels.
 */
export function pagedAttentionOptions(
  geometry: Omit<AttentionOptions, "split" | "fuseMerge">,
  options: { fused: boolean },
): AttentionOptions {
  const context = geometry.maxBlocks * geometry.blockSize;
  const fuse = options.fused && context <= FUSED_ATTENTION_MAX_CONTEXT;
  return {
    ...geometry,
    split: fuse ? Math.max(16, 2 ** Math.ceil(Math.log2(context))) : SPLIT_KEYS,
    fuseMerge: fuse,
  };
}
