/**
 * The `cpu` backend's paged attention: the same arithmetic as `pagedAttentionRef` (f64 sums in
 * the same order, so the same bits) arranged for a CPU. Per query token, the slots of its
 * context are looked up once for all heads; per KV head, each K row is read once for the query
 * heads that share it (GQA), and V is accumulated row by row (contiguous reads) into f64
 * accumulators instead of column by column; scratch is allocated once per call, not per head.
 *
 * @example
 * ```ts
 * import { pagedAttentionCpu } from "./cpu_attention.ts";
 * const one = new Float32Array([1, 0]);
 * const out = pagedAttentionCpu(one, { k: one, v: new Float32Array([3, 4]) }, {
 *   heads: 1, kvHeads: 1, headDim: 2, blockSize: 1, maxBlocks: 1,
 *   blockTable: new Uint32Array([0]), tokenSeq: new Uint32Array([0]), positions: new Uint32Array([0]),
 * });
 * console.assert(out[0] === 3 && out[1] === 4);
 * ```
 *
 * @module
 */
import type { PagedAttentionInput } from "../reference/attention.ts";

/** Causal paged attention: `out[T, H, D]` for `q[T, H, D]`, equal to `pagedAttentionRef`. */
export function pagedAttentionCpu(
  q: Float32Array,
  cache: { k: Float32Array; v: Float32Array },
  input: PagedAttentionInput,
): Float32Array {
  const { heads, kvHeads, headDim: d, blockSize, maxBlocks } = input;
  const scale = input.scale ?? 1 / Math.sqrt(d);
  const group = heads / kvHeads;
  const out = new Float32Array(q.length);
  let longest = 0;
  for (const p of input.positions) longest = Math.max(longest, p + 1);
  const rows = new Uint32Array(longest); // slot · kvHeads of each context position
  const scores = new Float64Array(group * longest);
  const acc = new Float64Array(group * d);
  const maxes = new Float64Array(group), sums = new Float64Array(group);
  const rowStride = kvHeads * d;
  for (let t = 0; t < input.positions.length; t++) {
    const ctx = input.positions[t] + 1, seq = input.tokenSeq[t];
    for (let j = 0; j < ctx; j++) {
      const block = input.blockTable[seq * maxBlocks + Math.floor(j / blockSize)];
      rows[j] = (block * blockSize + (j % blockSize)) * rowStride;
    }
    for (let kvh = 0; kvh < kvHeads; kvh++) {
      const h0 = kvh * group, kOff = kvh * d;
      maxes.fill(-Infinity);
      for (let j = 0; j < ctx; j++) {
        const kRow = rows[j] + kOff;
        for (let g = 0; g < group; g++) {
          const qRow = (t * heads + h0 + g) * d;
          let s = 0;
          for (let i = 0; i < d; i++) s += q[qRow + i] * cache.k[kRow + i];
          const scaled = s * scale;
          scores[g * longest + j] = scaled;
          if (scaled > maxes[g]) maxes[g] = scaled;
        }
      }
      for (let g = 0; g < group; g++) {
        let l = 0;
        const base = g * longest, m = maxes[g];
        for (let j = 0; j < ctx; j++) l += scores[base + j] = Math.exp(scores[base + j] - m);
        sums[g] = l;
      }
      acc.fill(0);
      for (let j = 0; j < ctx; j++) {
        const vRow = rows[j] + kOff;
        for (let g = 0; g < group; g++) {
          const p = scores[g * longest + j], a = g * d;
          for (let i = 0; i < d; i++) acc[a + i] += p * cache.v[vRow + i];
        }
      }
      for (let g = 0; g < group; g++) {
        const o = (t * heads + h0 + g) * d, a = g * d, l = sums[g];
        for (let i = 0; i < d; i++) out[o + i] = acc[a + i] / l;
      }
    }
  }
  return out;
}
