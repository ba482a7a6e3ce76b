/**
 * KV append: copies each token's keys and values `[T, HKV·D]` into the paged cache at the slot
 * given by a slot mapping (`slot = block · blockSize + offset`, as in vLLM). The cache of one
 * layer is `[numBlocks · blockSize, HKV, D]` f32 for K and the same for V. With `paged`, the
 * kernel computes the slot itself from each token's sequence, position and the block table
 * (what the backend op uses); without it, it reads a precomputed slot mapping (what the
 * decode plan's advance kernel maintains).
 *
 * @example
 * ```ts
 * import { kvAppendKernel } from "./kv_append.ts";
 * console.assert(kvAppendKernel({ kvHeads: 2, headDim: 8 }).code.includes("slots"));
 * ```
 *
 * @module
 */
import { defineKernel, type KernelSource, positiveInt } from "./kernel_source.ts";

/** Invocations per KV-append workgroup. */
export const KV_APPEND_WORKGROUP = 64;

/** Template parameters of {@link kvAppendKernel}. */
export interface KvAppendOptions {
  /** KV heads. */
  readonly kvHeads: number;
  /** Head dimension. */
  readonly headDim: number;
  /** Compute slots from a block table (`blockSize` tokens per block, rows of `maxBlocks`). */
  readonly paged?: { readonly blockSize: number; readonly maxBlocks: number };
}

/**
 * Bindings: 0 uniform `{tokens}`, 1 k, 2 v, 3 slots (u32; with `paged`: positions), 4 K cache,
 * 5 V cache; with `paged` also 6 token → sequence (u32), 7 block table `[seqs, maxBlocks]`.
 */
export function kvAppendKernel(options: KvAppendOptions): KernelSource {
  const row = positiveInt(options.kvHeads, "kvHeads") * positiveInt(options.headDim, "headDim");
  const paged = options.paged;
  const bs = paged ? positiveInt(paged.blockSize, "blockSize") : 0;
  const mb = paged ? positiveInt(paged.maxBlocks, "maxBlocks") : 0;
  const slotOf = paged
    ? `fn slot_of(t: u32) -> u32 {
  let pos = slots[t];
  return blockTable[tokenSeq[t] * ${mb}u + pos / ${bs}u] * ${bs}u + pos % ${bs}u;
}
@group(0) @binding(6) var<storage, read> tokenSeq: array<u32>;
@group(0) @binding(7) var<storage, read> blockTable: array<u32>;`
    : "fn slot_of(t: u32) -> u32 { return slots[t]; }";
  const code = `
const ROW: u32 = ${row}u;
struct Params { tokens: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> slots: array<u32>;
@group(0) @binding(4) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> v_cache: array<f32>;
${slotOf}

@compute @workgroup_size(${KV_APPEND_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = wid.x * ${KV_APPEND_WORKGROUP}u + lid;
  let t = wid.y;
  if (j >= ROW || t >= params.tokens) { return; }
  let dst = slot_of(t) * ROW + j;
  k_cache[dst] = k[t * ROW + j];
  v_cache[dst] = v[t * ROW + j];
}
`;
  const name = paged ? `kv_append.r${row}.paged.bs${bs}.mb${mb}` : `kv_append.r${row}`;
  return defineKernel(name, { row, blockSize: bs, maxBlocks: mb, wg: [KV_APPEND_WORKGROUP] }, code);
}

/** Grid for {@link kvAppendKernel}. */
export function kvAppendGrid(
  kvHeads: number,
  headDim: number,
  tokens: number,
): [number, number, number] {
  return [Math.ceil((kvHeads * headDim) / KV_APPEND_WORKGROUP), tokens, 1];
}
