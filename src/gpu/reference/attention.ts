/**
 * CPU references for the attention path: RoPE (interleaved and NEOX pairing), paged KV
 * append, and causal paged attention with GQA (one softmax over the full context, no splits).
 *
 * @example
 * ```ts
 * import { ropeRef } from "./attention.ts";
 * const x = new Float32Array([1, 0]);
 * ropeRef(x, new Uint32Array([0]), { heads: 1, headDim: 2, theta: 10000, mode: "neox" });
 * console.assert(x[0] === 1);
 * ```
 *
 * @module
 */

/** Geometry for {@link ropeRef}. */
export interface RopeGeometry {
  /** Heads per token. */
  readonly heads: number;
  /** Head dimension. */
  readonly headDim: number;
  /** Rotated dims (default headDim). */
  readonly rotaryDim?: number;
  /** Frequency base. */
  readonly theta: number;
  /** Pairing. */
  readonly mode: "interleaved" | "neox";
  /** Per-pair frequency divisors (Llama 3 `rope_freqs`); absent: all 1. */
  readonly freqFactors?: readonly number[];
}

/** Applies RoPE in place to `x[T, H, D]` with one position per token. */
export function ropeRef(x: Float32Array, positions: Uint32Array, g: RopeGeometry): void {
  const rot = g.rotaryDim ?? g.headDim;
  const half = rot / 2;
  for (let t = 0; t < positions.length; t++) {
    for (let h = 0; h < g.heads; h++) {
      const base = (t * g.heads + h) * g.headDim;
      for (let i = 0; i < half; i++) {
        const [i0, i1] = g.mode === "neox" ? [i, i + half] : [2 * i, 2 * i + 1];
        const angle = positions[t] * Math.pow(g.theta, -(2 * i) / rot) /
          (g.freqFactors?.[i] ?? 1);
        const c = Math.cos(angle), s = Math.sin(angle);
        const a = x[base + i0], b = x[base + i1];
        x[base + i0] = a * c - b * s;
        x[base + i1] = a * s + b * c;
      }
    }
  }
}

/** Writes each token's `row`-long k and v into the caches at `slots[t] · row`. */
export function kvAppendRef(
  cache: { k: Float32Array; v: Float32Array },
  k: Float32Array,
  v: Float32Array,
  slots: Uint32Array,
  row: number,
): void {
  slots.forEach((slot, t) => {
    cache.k.set(k.subarray(t * row, (t + 1) * row), slot * row);
    cache.v.set(v.subarray(t * row, (t + 1) * row), slot * row);
  });
}

/** Geometry and indexing of paged attention. */
export interface PagedAttentionInput {
  /** Query heads. */
  readonly heads: number;
  /** KV heads (divides heads). */
  readonly kvHeads: number;
  /** Head dimension. */
  readonly headDim: number;
  /** Tokens per block. */
  readonly blockSize: number;
  /** Block-table row length. */
  readonly maxBlocks: number;
  /** `[seqs, maxBlocks]` physical block ids. */
  readonly blockTable: Uint32Array;
  /** Sequence of each query token. */
  readonly tokenSeq: Uint32Array;
  /** Position of each query token; it attends to positions 0..position. */
  readonly positions: Uint32Array;
  /** Softmax scale; default 1/sqrt(headDim). */
  readonly scale?: number;
}

/** Causal paged attention: returns `out[T, H, D]` for `q[T, H, D]`. */
export function pagedAttentionRef(
  q: Float32Array,
  cache: { k: Float32Array; v: Float32Array },
  input: PagedAttentionInput,
): Float32Array {
  const { heads, kvHeads, headDim: d, blockSize, maxBlocks } = input;
  const scale = input.scale ?? 1 / Math.sqrt(d);
  const out = new Float32Array(q.length);
  for (let t = 0; t < input.positions.length; t++) {
    const ctx = input.positions[t] + 1;
    const seq = input.tokenSeq[t];
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / (heads / kvHeads));
      const scores = new Float64Array(ctx);
      const slots = new Uint32Array(ctx);
      let m = -Infinity;
      for (let j = 0; j < ctx; j++) {
        slots[j] = input.blockTable[seq * maxBlocks + Math.floor(j / blockSize)] * blockSize +
          (j % blockSize);
        let s = 0;
        for (let i = 0; i < d; i++) {
          s += q[(t * heads + h) * d + i] * cache.k[(slots[j] * kvHeads + kvh) * d + i];
        }
        scores[j] = s * scale;
        m = Math.max(m, scores[j]);
      }
      let l = 0;
      for (let j = 0; j < ctx; j++) l += scores[j] = Math.exp(scores[j] - m);
      for (let i = 0; i < d; i++) {
        let acc = 0;
        for (let j = 0; j < ctx; j++) {
          acc += scores[j] * cache.v[(slots[j] * kvHeads + kvh) * d + i];
        }
        out[(t * heads + h) * d + i] = acc / l;
      }
    }
  }
  return out;
}
