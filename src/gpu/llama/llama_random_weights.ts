/**
 * Seeded random weights for a {@link LlamaKernelConfig}, uploaded to a backend: the fixture of
 * the decode-step tests and benchmarks. The same (config, options) give the same values on
 * every backend and runtime (a 32-bit xorshift stream, quantised by the host code), so a `cpu`
 * and a `webgpu` copy hold the same model. Projections are uniform with scale
 * `gain / sqrt(fan-in)`, the embedding uniform in ±0.5 and norm weights near 1. The gains are
 * chosen so that the model is not a lookup table from the last token: q·k scores are sharp enough (QKV gain 4) and the
 * attention and MLP outputs large enough (o and down gain 3) that a change of RoPE mode or
 * base changes the greedy ids within a few steps, and the LM head (gain 4) spreads the logits
 * so greedy ids are well separated.
 *
 * @example
 * ```ts
 * import { createCpuBackend } from "../backends/cpu_backend.ts";
 * import { randomLlamaWeights } from "./llama_random_weights.ts";
 * const config = { hidden: 32, intermediate: 64, heads: 2, kvHeads: 1, headDim: 16, vocab: 40,
 *   dtype: "q8_0", blockSize: 4, maxBlocks: 2, ropeTheta: 1e4, ropeMode: "neox", eps: 1e-5 } as const;
 * const weights = randomLlamaWeights(createCpuBackend(), config, { layers: 2, seed: 7, tied: true });
 * console.assert(weights.layers.length === 2 && weights.lmHead === weights.embedding);
 * ```
 *
 * @module
 */
import type { Backend } from "../ops/backend.ts";
import { hostWeightFromF32 } from "../kernels/host_weight.ts";
import type { LlamaLayerWeights, LlamaWeights } from "./llama_decode_step.ts";
import type { LlamaKernelConfig } from "../compile/model_kernel_set.ts";

/** Options of {@link randomLlamaWeights}. */
export interface RandomLlamaWeightsOptions {
  /** Transformer layers. */
  readonly layers: number;
  /** Seed of the value stream (any 32-bit integer). */
  readonly seed: number;
  /** Use the embedding table as the LM head (default: a separate matrix). */
  readonly tied?: boolean;
}

/**
 * Uploads deterministic random weights of `config` (in `config.dtype`; norms and biases f32)
 * to `backend`. Throws `RangeError` for a non-positive layer count.
 */
export function randomLlamaWeights(
  backend: Backend,
  config: LlamaKernelConfig,
  options: RandomLlamaWeightsOptions,
): LlamaWeights {
  if (!Number.isInteger(options.layers) || options.layers <= 0) {
    throw new RangeError(`Cannot build random weights: layers = ${options.layers}`);
  }
  const next = xorshift(options.seed);
  const values = (count: number, scale: number, offset = 0) =>
    Float32Array.from({ length: count }, () => offset + scale * next());
  const matrix = (rows: number, cols: number, gain: number) =>
    backend.uploadWeight(
      hostWeightFromF32(config.dtype, values(rows * cols, gain / Math.sqrt(cols)), [rows, cols]),
    );
  const vector = (count: number, scale: number, offset = 0) =>
    backend.upload(values(count, scale, offset), [count]);
  const { hidden, intermediate, vocab } = config;
  const q = config.heads * config.headDim, kv = config.kvHeads * config.headDim;
  const embedding = backend.uploadWeight(
    hostWeightFromF32(config.dtype, values(vocab * hidden, 0.5), [vocab, hidden]),
  );
  const layers = Array.from({ length: options.layers }, (): LlamaLayerWeights => {
    const attnNorm = vector(hidden, 0.1, 1), qkv = matrix(q + 2 * kv, hidden, 4);
    const o = matrix(hidden, q, 3), mlpNorm = vector(hidden, 0.1, 1);
    const gateUp = matrix(2 * intermediate, hidden, 1), down = matrix(hidden, intermediate, 3);
    const bias = config.qkvBias ? { qkvBias: vector(q + 2 * kv, 0.1) } : {};
    return { attnNorm, qkv, ...bias, o, mlpNorm, gateUp, down };
  });
  const finalNorm = vector(hidden, 0.1, 1);
  const lmHead = options.tied ? embedding : matrix(vocab, hidden, 4);
  return { embedding, layers, finalNorm, lmHead };
}

/** Uniform values in [-1, 1) from a 32-bit xorshift stream. */
function xorshift(seed: number): () => number {
  let s = (seed >>> 0) || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 4294967296) * 2 - 1;
  };
}
