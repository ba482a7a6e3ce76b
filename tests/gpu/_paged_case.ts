/**
 * Test helper: random paged-attention scenarios (shuffled block tables, sequences of different
 * lengths, interleaved prefill tokens) and a dense attention oracle over each sequence's
 * logical K/V history, independent of the paged addressing under test.
 */
import { randomFloats } from "./_device.ts";

/** Geometry of one scenario; `contexts[s]` is sequence `s`'s length after the decode token. */
export interface AttentionCase {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly blockSize: number;
  readonly numBlocks: number;
  readonly maxBlocks: number;
  readonly contexts: readonly number[];
}

/** A token of a batch. */
export interface PagedToken {
  readonly seq: number;
  readonly pos: number;
}

/** The host data of a scenario. */
export interface AttentionData {
  readonly seqs: number;
  /** `[seqs, maxBlocks]`; entries past a sequence's blocks are `0xffffffff` (never read). */
  readonly blockTable: Uint32Array;
  /** Logical keys / values per sequence, `[context, kvHeads·headDim]`. */
  readonly k: Float32Array[];
  readonly v: Float32Array[];
  /** Every position but the last of every sequence, sequences interleaved. */
  readonly prefill: PagedToken[];
  /** The last position of each sequence, in sequence order. */
  readonly decode: PagedToken[];
  /** Decode queries `[seqs, heads·headDim]`. */
  readonly q: Float32Array;
}

/** Builds the data of `c` deterministically from `seed`. */
export function buildAttentionCase(c: AttentionCase, seed: number): AttentionData {
  const seqs = c.contexts.length, row = c.kvHeads * c.headDim;
  const order = shuffle([...Array(c.numBlocks).keys()], seed);
  const blockTable = new Uint32Array(seqs * c.maxBlocks).fill(0xffffffff);
  let next = 0;
  c.contexts.forEach((ctx, s) => {
    const blocks = Math.ceil(ctx / c.blockSize);
    if (blocks > c.maxBlocks || next + blocks > c.numBlocks) {
      throw new RangeError(`Cannot build case: sequence ${s} (${ctx} tokens) does not fit`);
    }
    for (let b = 0; b < blocks; b++) blockTable[s * c.maxBlocks + b] = order[next++];
  });
  const prefill = shuffle(
    c.contexts.flatMap((ctx, seq) => [...Array(ctx - 1).keys()].map((pos) => ({ seq, pos }))),
    seed + 1,
  );
  return {
    seqs,
    blockTable,
    k: c.contexts.map((ctx, s) => randomFloats(ctx * row, seed * 31 + 2 * s + 1)),
    v: c.contexts.map((ctx, s) => randomFloats(ctx * row, seed * 31 + 2 * s + 2)),
    prefill,
    decode: c.contexts.map((ctx, seq) => ({ seq, pos: ctx - 1 })),
    q: randomFloats(seqs * c.heads * c.headDim, seed * 7 + 3, 2),
  };
}

/** Dense causal decode attention (f64 softmax, scale 1/sqrt(headDim)) over the logical K/V. */
export function denseAttention(c: AttentionCase, x: AttentionData): Float32Array {
  const d = c.headDim, row = c.kvHeads * d, group = c.heads / c.kvHeads;
  const out = new Float32Array(x.q.length);
  c.contexts.forEach((ctx, s) => {
    for (let h = 0; h < c.heads; h++) {
      const qo = (s * c.heads + h) * d, ko = Math.floor(h / group) * d;
      const w = Array.from({ length: ctx }, (_, p) => {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += x.q[qo + i] * x.k[s][p * row + ko + i];
        return dot / Math.sqrt(d);
      });
      const m = Math.max(...w);
      const e = w.map((v) => Math.exp(v - m)), z = e.reduce((a, b) => a + b, 0);
      for (let i = 0; i < d; i++) {
        let acc = 0;
        for (let p = 0; p < ctx; p++) acc += e[p] * x.v[s][p * row + ko + i];
        out[qo + i] = acc / z;
      }
    }
  });
  return out;
}

/** Seeded Fisher–Yates shuffle (returns a new array). */
function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  const r = randomFloats(out.length, seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(((r[i] + 1) / 2) * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
