/**
 * Uploads a {@link LlamaCheckpoint} to a {@link Backend} as the {@link LlamaWeights} the
 * decode step and batch runner read: Q, K and V rows fused into one QKV matrix (plus the
 * concatenated biases for Qwen2), gate and up into one gate+up matrix, and the LM head shared
 * with the embedding when tied. Matrices are uploaded one at a time, reporting progress, so
 * host copies can be collected as the upload proceeds.
 *
 * @example
 * ```ts ignore
 * const model = uploadLlamaCheckpoint(backend, checkpoint, { blockSize: 16, maxBlocks: 64 });
 * ```
 */
import type { Backend, Tensor } from "../gpu/ops/backend.ts";
import { concatWeightRows, dequantizeWeight, type HostWeight } from "../gpu/kernels/host_weight.ts";
import type { LlamaLayerWeights, LlamaModel } from "../gpu/llama/llama_decode_step.ts";
import type { LlamaKernelConfig } from "../gpu/compile/model_kernel_set.ts";
import type { WeightDType } from "../gpu/kernels/kernel_source.ts";
import type { LlamaCheckpoint } from "./llama_config.ts";

/** Paging geometry the kernel config carries. */
export interface LlamaUploadOptions {
  /** KV block size. */
  readonly blockSize: number;
  /** Block-table row length (blocks per sequence at most). */
  readonly maxBlocks: number;
  /** Called after each uploaded tensor with (done, total). */
  readonly progress?: (done: number, total: number) => void;
}

/** The kernel config of a checkpoint: dims, paging, and the dtype most matrix bytes use. */
export function llamaKernelConfig(
  checkpoint: LlamaCheckpoint,
  options: Pick<LlamaUploadOptions, "blockSize" | "maxBlocks">,
): LlamaKernelConfig {
  const c = checkpoint.config;
  return {
    hidden: c.hidden,
    intermediate: c.intermediate,
    heads: c.heads,
    kvHeads: c.kvHeads,
    headDim: c.headDim,
    vocab: c.vocab,
    dtype: checkpoint.layers[0]?.q.dtype ?? checkpoint.embedding.dtype,
    blockSize: options.blockSize,
    maxBlocks: options.maxBlocks,
    ropeTheta: c.ropeTheta,
    ropeMode: c.ropeMode,
    ...(c.ropeFreqFactors ? { ropeFreqFactors: c.ropeFreqFactors } : {}),
    eps: c.eps,
    qkvBias: c.qkvBias,
  };
}

/** Uploads every weight of `checkpoint`; throws what the backend's upload throws. */
export function uploadLlamaCheckpoint(
  backend: Backend,
  checkpoint: LlamaCheckpoint,
  options: LlamaUploadOptions,
): LlamaModel {
  const total = 2 + checkpoint.layers.length * 5 + (checkpoint.lmHead ? 1 : 0);
  let done = 0;
  const tick = <T>(t: T): T => (options.progress?.(++done, total), t);
  const weight = (w: HostWeight): Tensor => tick(backend.uploadWeight(w));
  const vector = (v: Float32Array): Tensor => backend.upload(v, [v.length]);
  const embedding = weight(checkpoint.embedding);
  const layers = checkpoint.layers.map((l): LlamaLayerWeights => {
    const bias = l.qBias && l.kBias && l.vBias
      ? { qkvBias: vector(concatF32([l.qBias, l.kBias, l.vBias])) }
      : {};
    return {
      attnNorm: vector(l.attnNorm),
      qkv: weight(fuseRows([l.q, l.k, l.v])),
      ...bias,
      o: weight(l.o),
      mlpNorm: tick(vector(l.mlpNorm)),
      gateUp: weight(fuseRows([l.gate, l.up])),
      down: weight(l.down),
    };
  });
  const finalNorm = tick(vector(checkpoint.finalNorm));
  const lmHead = checkpoint.lmHead ? weight(checkpoint.lmHead) : embedding;
  return {
    config: llamaKernelConfig(checkpoint, options),
    weights: { embedding, layers, finalNorm, lmHead },
  };
}

/** Row-concatenates weights; mixed storage types are widened to f32 first. */
function fuseRows(weights: readonly HostWeight[]): HostWeight {
  const dtype: WeightDType = weights[0].dtype;
  if (weights.every((w) => w.dtype === dtype)) return concatWeightRows(weights);
  return concatWeightRows(
    weights.map((w) => ({ dtype: "f32", shape: w.shape, data: dequantizeWeight(w) })),
  );
}

function concatF32(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
