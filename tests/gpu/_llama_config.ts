/**
 * Test helper: the small Llama-family kernel config the GPU tests share (hidden 64, FFN 96,
 * 4 heads over 2 KV heads of 16, vocab 128, KV blocks of 4 tokens, 4 blocks per sequence).
 */
import type { LlamaKernelConfig } from "../../src/gpu/compile/model_kernel_set.ts";

/** The small config with weights of `dtype`, fields of `extra` overriding. */
export function smallLlamaConfig(
  dtype: LlamaKernelConfig["dtype"],
  extra: Partial<LlamaKernelConfig> = {},
): LlamaKernelConfig {
  return {
    hidden: 64,
    intermediate: 96,
    heads: 4,
    kvHeads: 2,
    headDim: 16,
    vocab: 128,
    dtype,
    blockSize: 4,
    maxBlocks: 4,
    ropeTheta: 1e4,
    ropeMode: "neox",
    eps: 1e-5,
    ...extra,
  };
}
