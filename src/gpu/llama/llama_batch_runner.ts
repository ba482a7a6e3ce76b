/**
 * A Llama-family forward pass over one scheduler step: any mix of prefill chunks and decode
 * tokens from any sequences, written against {@link Backend} ops so it runs on every backend.
 * The KV cache pool is owned outside the runner (by the engine's block manager); each step
 * brings its own batch (token ids, positions, the sequence of each token, the block table of
 * those sequences) and names the rows whose logits it needs, so prefill rows that only fill
 * the cache cost no LM-head work:
 *
 * embedding → per layer: RMSNorm / residual-add + RMSNorm, fused QKV (+bias), RoPE, paged KV
 * append, paged attention, o-proj, residual-add + RMSNorm, gate+up+SiLU, down → final norm →
 * gather of the needed rows → LM head → logits read back.
 *
 * Activations are allocated per token count and kept for the most recent shapes, so a steady
 * decode loop allocates nothing.
 *
 * @example
 * ```ts
 * import { createCpuBackend } from "../backends/cpu_backend.ts";
 * import { createKvCachePool, createLlamaBatchRunner } from "./llama_batch_runner.ts";
 * import { randomLlamaWeights } from "./llama_random_weights.ts";
 * const backend = createCpuBackend();
 * const config = { hidden: 32, intermediate: 64, heads: 2, kvHeads: 1, headDim: 16, vocab: 40,
 *   dtype: "f32", blockSize: 4, maxBlocks: 2, ropeTheta: 1e4, ropeMode: "neox", eps: 1e-5 } as const;
 * const weights = randomLlamaWeights(backend, config, { layers: 1, seed: 1 });
 * const pool = createKvCachePool(backend, config, { layers: 1, numBlocks: 4 });
 * const runner = createLlamaBatchRunner(backend, { config, weights }, pool);
 * const logits = await runner.run({ ids: new Uint32Array([3, 5]), positions: new Uint32Array([0, 1]),
 *   tokenSeq: new Uint32Array([0, 0]), blockTable: new Uint32Array([2, 3]), logitRows: [1] });
 * console.assert(logits.length === 40);
 * runner.release();
 * pool.release();
 * ```
 *
 * @module
 */
import type { Backend, Tensor } from "../ops/backend.ts";
import type { LlamaModel } from "./llama_decode_step.ts";
import type { LlamaKernelConfig } from "../compile/model_kernel_set.ts";
import { createPagedKvCache, type PagedBatch, type PagedKvCache } from "../ops/paged_kv_cache.ts";

/** The per-layer paged KV caches of one model, owned by whoever allocates blocks. */
export interface KvCachePool {
  /** Physical blocks per layer. */
  readonly numBlocks: number;
  /** Tokens per block. */
  readonly blockSize: number;
  /** One cache per layer. */
  readonly caches: readonly PagedKvCache[];
  /** Frees every layer's cache. */
  release(): void;
}

/** Allocates `layers` caches of `numBlocks` blocks in `config`'s geometry. */
export function createKvCachePool(
  backend: Backend,
  config: LlamaKernelConfig,
  options: { layers: number; numBlocks: number },
): KvCachePool {
  const caches = Array.from(
    { length: options.layers },
    () => createPagedKvCache(backend, { ...config, numBlocks: options.numBlocks }),
  );
  return {
    numBlocks: options.numBlocks,
    blockSize: config.blockSize,
    caches,
    release() {
      for (const c of caches) {
        backend.release(c.k);
        backend.release(c.v);
      }
    },
  };
}

/** One scheduler step's tokens. */
export interface LlamaStepBatch {
  /** `[T]` token ids. */
  readonly ids: Uint32Array;
  /** `[T]` position of each token in its sequence. */
  readonly positions: Uint32Array;
  /** `[T]` row of `blockTable` each token belongs to. */
  readonly tokenSeq: Uint32Array;
  /**
   * `[S, config.maxBlocks]` physical blocks of each sequence; every block up to a token's
   * position MUST be allocated to that sequence, and two tokens MUST NOT share a slot.
   */
  readonly blockTable: Uint32Array;
  /** Indices into the T tokens whose logits are returned, in the order returned. */
  readonly logitRows: readonly number[];
}

/** Runs steps of one model over an external KV pool. */
export interface LlamaBatchRunner {
  /**
   * Runs the forward pass: writes every token's K and V into the pool and resolves to the
   * f32 logits `[logitRows.length, vocab]`. Throws `RangeError` on an inconsistent batch.
   * Calls MUST NOT overlap (await each one).
   */
  run(batch: LlamaStepBatch): Promise<Float32Array>;
  /** Frees the runner's activations (not the weights, not the pool). */
  release(): void;
}

interface Activations {
  hidden: Tensor;
  normed: Tensor;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  attn: Tensor;
  proj: Tensor;
  act: Tensor;
  ids: Tensor;
  positions: Tensor;
  tokenSeq: Tensor;
}

/** Shapes of activations kept between steps. */
const KEEP_SHAPES = 6;

/** Creates a runner of `model` over `pool` on `backend`. */
export function createLlamaBatchRunner(
  backend: Backend,
  model: LlamaModel,
  pool: KvCachePool,
): LlamaBatchRunner {
  const c = model.config, w = model.weights;
  if (pool.caches.length !== w.layers.length) {
    throw new RangeError(
      `Cannot create a batch runner: the pool has ${pool.caches.length} layers, the model ${w.layers.length}`,
    );
  }
  const qw = c.heads * c.headDim, kvw = c.kvHeads * c.headDim;
  const byTokens = new Map<number, Activations>();
  const byRows = new Map<number, { gathered: Tensor; logits: Tensor }>();
  const tables = new Map<number, Tensor>();
  const lru = <V>(map: Map<number, V>, key: number, make: () => V, free: (v: V) => void): V => {
    let v = map.get(key);
    if (v) map.delete(key);
    else {
      v = make();
      if (map.size >= KEEP_SHAPES) {
        const [oldKey, old] = map.entries().next().value!;
        map.delete(oldKey);
        free(old);
      }
    }
    map.set(key, v);
    return v;
  };
  const releaseAll = (o: object) => {
    for (const t of Object.values(o)) backend.release(t as Tensor);
  };
  const activations = (t: number) =>
    lru(byTokens, t, () => ({
      hidden: backend.empty([t, c.hidden]),
      normed: backend.empty([t, c.hidden]),
      q: backend.empty([t, qw]),
      k: backend.empty([t, kvw]),
      v: backend.empty([t, kvw]),
      attn: backend.empty([t, qw]),
      proj: backend.empty([t, c.hidden]),
      act: backend.empty([t, c.intermediate]),
      ids: backend.empty([t], "u32"),
      positions: backend.empty([t], "u32"),
      tokenSeq: backend.empty([t], "u32"),
    }), releaseAll);
  const outputs = (r: number) =>
    lru(byRows, r, () => ({
      gathered: backend.empty([r, c.hidden]),
      logits: backend.empty([r, c.vocab]),
    }), releaseAll);
  const blockTable = (seqs: number) =>
    lru(tables, seqs, () => backend.empty([seqs, c.maxBlocks], "u32"), (t) => backend.release(t));
  const rope = {
    headDim: c.headDim,
    theta: c.ropeTheta,
    mode: c.ropeMode,
    freqFactors: c.ropeFreqFactors,
  };

  return {
    async run(batch) {
      const t = batch.ids.length;
      const seqs = batch.blockTable.length / c.maxBlocks;
      if (
        !t || batch.positions.length !== t || batch.tokenSeq.length !== t ||
        !Number.isInteger(seqs) || !seqs || !batch.logitRows.length
      ) {
        throw new RangeError(
          `Cannot run a Llama step: ${t} ids, ${batch.positions.length} positions, ` +
            `${batch.tokenSeq.length} sequence indices, a block table of ${batch.blockTable.length} ` +
            `entries (rows of ${c.maxBlocks}) and ${batch.logitRows.length} logit rows do not agree`,
        );
      }
      if (batch.logitRows.some((r) => !(r >= 0 && r < t))) {
        throw new RangeError(`Cannot run a Llama step: a logit row is outside 0..${t - 1}`);
      }
      const a = activations(t);
      backend.write(a.ids, batch.ids);
      backend.write(a.positions, batch.positions);
      backend.write(a.tokenSeq, batch.tokenSeq);
      const table = blockTable(seqs);
      backend.write(table, batch.blockTable);
      const paged: PagedBatch = { blockTable: table, tokenSeq: a.tokenSeq, positions: a.positions };
      backend.embedding(a.hidden, w.embedding, a.ids);
      w.layers.forEach((layer, l) => {
        if (l === 0) backend.rmsnorm(a.normed, a.hidden, layer.attnNorm, c.eps);
        else backend.addRmsnorm(a.normed, a.hidden, a.proj, layer.attnNorm, c.eps);
        backend.matmulQkv([a.q, a.k, a.v], a.normed, layer.qkv, layer.qkvBias);
        backend.rope(a.q, a.positions, { ...rope, heads: c.heads });
        backend.rope(a.k, a.positions, { ...rope, heads: c.kvHeads });
        backend.kvAppend(pool.caches[l], a.k, a.v, paged);
        backend.pagedAttention(a.attn, a.q, pool.caches[l], paged);
        backend.matmul(a.proj, a.attn, layer.o);
        backend.addRmsnorm(a.normed, a.hidden, a.proj, layer.mlpNorm, c.eps);
        backend.matmulGateUpSilu(a.act, a.normed, layer.gateUp);
        backend.matmul(a.proj, a.act, layer.down);
      });
      backend.addRmsnorm(a.normed, a.hidden, a.proj, w.finalNorm, c.eps);
      const rows = batch.logitRows;
      const all = rows.length === t && rows.every((r, i) => r === i);
      const out = outputs(rows.length);
      if (all) backend.matmul(out.logits, a.normed, w.lmHead);
      else {
        // Gather on the host: one readback of the normed rows (prefill steps only).
        const normed = (await backend.read(a.normed)) as Float32Array;
        const picked = new Float32Array(rows.length * c.hidden);
        rows.forEach((r, i) =>
          picked.set(normed.subarray(r * c.hidden, (r + 1) * c.hidden), i * c.hidden)
        );
        backend.write(out.gathered, picked);
        backend.matmul(out.logits, out.gathered, w.lmHead);
      }
      return (await backend.read(out.logits)) as Float32Array;
    },
    release() {
      for (const a of byTokens.values()) releaseAll(a);
      for (const o of byRows.values()) releaseAll(o);
      for (const tb of tables.values()) backend.release(tb);
      byTokens.clear();
      byRows.clear();
      tables.clear();
    },
  };
}
