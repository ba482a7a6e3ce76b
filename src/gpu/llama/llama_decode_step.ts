/**
 * One decode step of a Llama-family model (Llama 2/3, Qwen2 with QKV biases; GQA), written
 * once against {@link Backend} ops, so it runs op-at-a-time on every backend and is captured
 * into a {@link DecodePlan} on a {@link CapturingBackend}:
 *
 * embedding(ids) → per layer: RMSNorm (first layer) or residual-add + RMSNorm, fused QKV, RoPE
 * on q and k, paged KV append, paged attention, o-proj, residual-add + RMSNorm, gate+up+SiLU,
 * down → final residual-add + RMSNorm → LM head → sample → advance.
 *
 * The sampler writes the ids tensor that the next step's embedding reads (the on-GPU feedback)
 * and `advance` appends them to the history, moves every position and the sampler's step, so
 * K captured steps run in one submit with one readback. Every activation, the KV caches and
 * the inputs are allocated once here; a step allocates nothing.
 *
 * @example
 * ```ts
 * import { createCpuBackend } from "../backends/cpu_backend.ts";
 * import { createLlamaDecodeStep } from "./llama_decode_step.ts";
 * import { randomLlamaWeights } from "./llama_random_weights.ts";
 * const backend = createCpuBackend();
 * const config = { hidden: 32, intermediate: 64, heads: 2, kvHeads: 1, headDim: 16, vocab: 40,
 *   dtype: "f32", blockSize: 4, maxBlocks: 2, ropeTheta: 1e4, ropeMode: "neox", eps: 1e-5 } as const;
 * const weights = randomLlamaWeights(backend, config, { layers: 1, seed: 1 });
 * const step = createLlamaDecodeStep(backend, { config, weights }, {
 *   blockTable: new Uint32Array([0, 1]), numBlocks: 2, maxSteps: 4,
 *   sampling: [{ temperature: 0, topK: 0, topP: 1, seed: 0 }],
 * });
 * step.reset(new Uint32Array([3]), new Uint32Array([0]));
 * step.encode();
 * step.encode();
 * console.assert((await backend.read(step.history)).length === 4);
 * step.release();
 * ```
 *
 * @module
 */
import type { Backend, Tensor } from "../ops/backend.ts";
import type { LlamaKernelConfig } from "../compile/model_kernel_set.ts";
import { createPagedKvCache, type PagedBatch, type PagedKvCache } from "../ops/paged_kv_cache.ts";
import type { SamplingParams } from "../reference/sampling.ts";
import { packSamplingParams, type SamplingInputs } from "../ops/sampling_inputs.ts";

/** The weights of one layer, uploaded to the backend that runs the step. */
export interface LlamaLayerWeights {
  /** f32 `[hidden]`. */
  readonly attnNorm: Tensor;
  /** Weight `[(heads + 2·kvHeads)·headDim, hidden]`: Wq, Wk, Wv rows concatenated. */
  readonly qkv: Tensor;
  /** f32 `[(heads + 2·kvHeads)·headDim]`; present exactly when `config.qkvBias`. */
  readonly qkvBias?: Tensor;
  /** Weight `[hidden, heads·headDim]`. */
  readonly o: Tensor;
  /** f32 `[hidden]`. */
  readonly mlpNorm: Tensor;
  /** Weight `[2·intermediate, hidden]`: gate rows, then up rows. */
  readonly gateUp: Tensor;
  /** Weight `[hidden, intermediate]`. */
  readonly down: Tensor;
}

/** A model's weights on one backend. */
export interface LlamaWeights {
  /** Weight `[vocab, hidden]`. */
  readonly embedding: Tensor;
  /** One entry per layer. */
  readonly layers: readonly LlamaLayerWeights[];
  /** f32 `[hidden]`. */
  readonly finalNorm: Tensor;
  /** Weight `[vocab, hidden]`; MAY be the `embedding` tensor itself (tied). */
  readonly lmHead: Tensor;
}

/** A model: its dimensions and its weights. */
export interface LlamaModel {
  /** Dimensions (shared with the model's kernel set). */
  readonly config: LlamaKernelConfig;
  /** Weights on the backend that runs the step. */
  readonly weights: LlamaWeights;
}

/** The sequences a step decodes, one token each. */
export interface LlamaDecodeBatch {
  /** `[sequences, config.maxBlocks]` physical block of each logical block (sets T). */
  readonly blockTable: Uint32Array;
  /** Physical blocks in each layer's KV cache (every table entry that is reached MUST be below). */
  readonly numBlocks: number;
  /** Sampling per sequence (one entry per block-table row). */
  readonly sampling: readonly SamplingParams[];
  /** Steps the history holds between resets. */
  readonly maxSteps: number;
  /**
   * Per-layer KV caches owned outside the step (an engine's pool, with `numBlocks` blocks
   * each). Default: the step allocates its own and frees them on `release`.
   */
  readonly caches?: readonly PagedKvCache[];
}

/** A preallocated decode step. */
export interface LlamaDecodeStep {
  /** Sequences (= tokens per step, T). */
  readonly tokens: number;
  /** u32 `[T]`: the token each sequence feeds next; the step's sampler overwrites it. */
  readonly ids: Tensor;
  /** u32 `[T]`: the position of those tokens; `advance` increments it. */
  readonly positions: Tensor;
  /** u32 `[T, config.maxBlocks]`: the block table (write it between runs as blocks grow). */
  readonly blockTable: Tensor;
  /** u32 `[1]`: the step (history row and sampler draw); `advance` increments it. */
  readonly state: Tensor;
  /** u32 `[maxSteps, T]`: the ids sampled at each step since the last reset. */
  readonly history: Tensor;
  /** f32 `[T, vocab]` of the last step. */
  readonly logits: Tensor;
  /** Layer `l`'s paged KV cache. */
  readonly caches: readonly PagedKvCache[];
  /**
   * Issues one step's ops on the backend: queued, or recorded when called inside
   * `CapturingBackend.capture`. Allocates nothing.
   */
  encode(): void;
  /**
   * Starts over from `ids` at `positions` (one each per sequence) with the step counter at 0.
   * Positions before them MUST already be in the KV caches (none, for position 0). A captured
   * plan then needs its own `resetHistory()`.
   */
  reset(ids: Uint32Array, positions: Uint32Array): void;
  /** Frees the step's tensors (activations, inputs, its own caches; not the weights). */
  release(): void;
}

/**
 * Allocates the activations, KV caches and inputs of a decode step of `model` over `batch` on
 * `backend`. Throws `RangeError` when a weight's shape does not fit `model.config` or the
 * batch is inconsistent.
 */
export function createLlamaDecodeStep(
  backend: Backend,
  model: LlamaModel,
  batch: LlamaDecodeBatch,
): LlamaDecodeStep {
  const c = model.config, w = model.weights;
  checkWeights(c, w);
  const tokens = batch.sampling.length;
  if (!tokens || batch.blockTable.length !== tokens * c.maxBlocks) {
    throw new RangeError(
      `Cannot create a Llama decode step: the block table has ${batch.blockTable.length} ` +
        `entries, expected ${tokens} sequences × maxBlocks ${c.maxBlocks}`,
    );
  }
  const q = c.heads * c.headDim, kv = c.kvHeads * c.headDim;
  const tensors: Tensor[] = [];
  const keep = (t: Tensor) => (tensors.push(t), t);
  const f32 = (...shape: number[]) => keep(backend.empty(shape));
  const u32 = (data: Uint32Array, shape: number[]) => keep(backend.upload(data, shape));
  const hidden = f32(tokens, c.hidden), normed = f32(tokens, c.hidden);
  const qt = f32(tokens, q), kt = f32(tokens, kv), vt = f32(tokens, kv), attn = f32(tokens, q);
  const proj = f32(tokens, c.hidden), act = f32(tokens, c.intermediate);
  const logits = f32(tokens, c.vocab);
  const ids = u32(new Uint32Array(tokens), [tokens]);
  const paged: PagedBatch = {
    blockTable: u32(batch.blockTable, [tokens, c.maxBlocks]),
    tokenSeq: u32(Uint32Array.from({ length: tokens }, (_, i) => i), [tokens]),
    positions: u32(new Uint32Array(tokens), [tokens]),
  };
  const sampling: SamplingInputs = {
    params: u32(packSamplingParams(batch.sampling), [tokens, 4]),
    state: u32(new Uint32Array(1), [1]),
  };
  const history = u32(new Uint32Array(batch.maxSteps * tokens), [batch.maxSteps, tokens]);
  if (batch.caches && batch.caches.length !== w.layers.length) {
    throw new RangeError(
      `Cannot create a Llama decode step: ${batch.caches.length} caches for ${w.layers.length} layers`,
    );
  }
  const caches = batch.caches ?? w.layers.map(() => {
    const cache = createPagedKvCache(backend, { ...c, numBlocks: batch.numBlocks });
    tensors.push(cache.k, cache.v);
    return cache;
  });
  const rope = {
    headDim: c.headDim,
    theta: c.ropeTheta,
    mode: c.ropeMode,
    freqFactors: c.ropeFreqFactors,
  };
  return {
    tokens,
    ids,
    positions: paged.positions,
    blockTable: paged.blockTable,
    state: sampling.state,
    history,
    logits,
    caches,
    encode() {
      backend.embedding(hidden, w.embedding, ids);
      w.layers.forEach((layer, l) => {
        if (l === 0) backend.rmsnorm(normed, hidden, layer.attnNorm, c.eps);
        else backend.addRmsnorm(normed, hidden, proj, layer.attnNorm, c.eps);
        backend.matmulQkv([qt, kt, vt], normed, layer.qkv, layer.qkvBias);
        backend.rope(qt, paged.positions, { ...rope, heads: c.heads });
        backend.rope(kt, paged.positions, { ...rope, heads: c.kvHeads });
        backend.kvAppend(caches[l], kt, vt, paged);
        backend.pagedAttention(attn, qt, caches[l], paged);
        backend.matmul(proj, attn, layer.o);
        backend.addRmsnorm(normed, hidden, proj, layer.mlpNorm, c.eps);
        backend.matmulGateUpSilu(act, normed, layer.gateUp);
        backend.matmul(proj, act, layer.down);
      });
      backend.addRmsnorm(normed, hidden, proj, w.finalNorm, c.eps);
      backend.matmul(logits, normed, w.lmHead);
      backend.sample(ids, logits, sampling);
      backend.advance(history, { ids, positions: paged.positions, state: sampling.state });
    },
    reset(start, positions) {
      backend.write(ids, start);
      backend.write(paged.positions, positions);
      backend.write(sampling.state, new Uint32Array(1));
    },
    release() {
      for (const t of tensors.splice(0)) backend.release(t);
    },
  };
}

/** Releases every weight tensor (a tied LM head once). */
export function releaseLlamaWeights(backend: Backend, weights: LlamaWeights): void {
  const all = new Set<Tensor>([weights.embedding, weights.finalNorm, weights.lmHead]);
  for (const layer of weights.layers) {
    for (const t of Object.values(layer)) if (t) all.add(t as Tensor);
  }
  for (const t of all) backend.release(t);
}

function checkWeights(c: LlamaKernelConfig, w: LlamaWeights): void {
  const q = c.heads * c.headDim, kv = c.kvHeads * c.headDim;
  const expect = (what: string, t: Tensor | undefined, shape: number[], kind: Tensor["kind"]) => {
    if (t?.kind !== kind || t.shape.join() !== shape.join()) {
      throw new RangeError(
        `Cannot create a Llama decode step: ${what} is ${
          t ? `${t.kind} [${t.shape}]` : "missing"
        }, expected ${kind} [${shape}]`,
      );
    }
  };
  if (!w.layers.length) throw new RangeError("Cannot create a Llama decode step: no layers");
  expect("embedding", w.embedding, [c.vocab, c.hidden], "weight");
  expect("finalNorm", w.finalNorm, [c.hidden], "f32");
  expect("lmHead", w.lmHead, [c.vocab, c.hidden], "weight");
  w.layers.forEach((layer, l) => {
    expect(`layer ${l} attnNorm`, layer.attnNorm, [c.hidden], "f32");
    expect(`layer ${l} qkv`, layer.qkv, [q + 2 * kv, c.hidden], "weight");
    if (c.qkvBias) expect(`layer ${l} qkvBias`, layer.qkvBias, [q + 2 * kv], "f32");
    else if (layer.qkvBias) {
      throw new RangeError(
        `Cannot create a Llama decode step: layer ${l} has a qkvBias but config.qkvBias is unset`,
      );
    }
    expect(`layer ${l} o`, layer.o, [c.hidden, q], "weight");
    expect(`layer ${l} mlpNorm`, layer.mlpNorm, [c.hidden], "f32");
    expect(`layer ${l} gateUp`, layer.gateUp, [2 * c.intermediate, c.hidden], "weight");
    expect(`layer ${l} down`, layer.down, [c.hidden, c.intermediate], "weight");
  });
}
