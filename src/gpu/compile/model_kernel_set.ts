/**
 * The kernel set of a Llama-family decoder, as compile-cache pieces per token bucket: what a
 * backend warms up before serving. Fused (`webgpu`) sets use the QKV split, gate+up+SiLU and
 * residual+norm kernels; unfused (`webgpu-eager`) sets use one kernel per op and no tuning.
 * Attention is its own piece (vLLM splits graphs at attention); its grid is static per bucket.
 *
 * @example
 * ```ts
 * import { llamaKernelSet } from "./model_kernel_set.ts";
 * const items = llamaKernelSet({ hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, headDim: 16,
 *   vocab: 256, dtype: "q8_0", blockSize: 16, maxBlocks: 8, ropeTheta: 1e4, ropeMode: "neox", eps: 1e-6 },
 *   { buckets: [1, 8], backend: "webgpu" });
 * console.assert(items.length > 20);
 * ```
 *
 * @module
 */
import type { CompileCacheKey } from "./compile_cache.ts";
import { assertSameKernel } from "./kernel_set.ts";
import {
  fixedPiece,
  GEMV_MAX_ROWS,
  type KernelPiece,
  matmulPiece as piece,
  type MatmulPieceOptions,
} from "./kernel_piece.ts";
import type { WeightDType } from "../kernels/kernel_source.ts";
import type { RopeMode } from "../kernels/rope.ts";
import { pagedAttentionOptions } from "../kernels/attention.ts";
import { KERNELS } from "../kernels/memoized_kernels.ts";

/** The model dimensions a kernel set depends on. */
export interface LlamaKernelConfig {
  /** Hidden size. */
  readonly hidden: number;
  /** MLP intermediate size. */
  readonly intermediate: number;
  /** Query heads. */
  readonly heads: number;
  /** KV heads. */
  readonly kvHeads: number;
  /** Head dimension. */
  readonly headDim: number;
  /** Vocabulary size. */
  readonly vocab: number;
  /** Weight storage type. */
  readonly dtype: WeightDType;
  /** KV block size. */
  readonly blockSize: number;
  /** Block-table row length. */
  readonly maxBlocks: number;
  /** RoPE base. */
  readonly ropeTheta: number;
  /** RoPE pairing. */
  readonly ropeMode: RopeMode;
  /** RoPE per-pair frequency divisors (Llama 3 `rope_freqs`); absent: none. */
  readonly ropeFreqFactors?: readonly number[];
  /** RMSNorm epsilon. */
  readonly eps: number;
  /** QKV projections carry biases (Qwen2). */
  readonly qkvBias?: boolean;
}

/**
 * Builds the (key, piece) list for every bucket, keyed by (operation = piece name, bucket):
 * pieces of one bucket that are the same operation (e.g. the Q and K RoPE when heads equal KV
 * heads) appear once, and two different kernels under one name throw a `RangeError` naming
 * both. Fixed kernels come from the shared memoised generators the backends
 * dispatch through, so a backend running after this warm-up generates no WGSL for them.
 *
 * `int8` offers the int8-activation GEMV for the quantised matmuls of buckets up to
 * `GEMV_MAX_ROWS` (`auto`: beside the float candidates, `force`: alone; see
 * `gemv_i8_tuning.ts`) and adds the activation-quantise kernel of each K they use. It MUST come
 * from `resolveInt8GemvMode` for the device (the kernels need a WGSL language feature).
 */
export function llamaKernelSet(
  config: LlamaKernelConfig,
  options: {
    buckets: readonly number[];
    backend: "webgpu" | "webgpu-eager";
    int8?: "off" | "auto" | "force";
  },
): { key: CompileCacheKey; piece: KernelPiece }[] {
  const items: { key: CompileCacheKey; piece: KernelPiece }[] = [];
  const int8 = options.int8 === "off" ? undefined : options.int8;
  for (const bucket of options.buckets) {
    const pieces = options.backend === "webgpu"
      ? fusedPieces(config, bucket, int8)
      : eagerPieces(config, bucket, int8);
    const seen = new Map<string, KernelPiece>();
    for (const piece of pieces) {
      const key = { bucket, op: piece.name, backend: options.backend };
      const first = seen.get(piece.name);
      if (first) {
        // Only fixed pieces repeat; a different kernel under the same name is a collision.
        assertSameKernel(
          key,
          first.generate(first.candidates[0]),
          piece.generate(piece.candidates[0]),
        );
        continue;
      }
      seen.set(piece.name, piece);
      items.push({ key, piece });
    }
  }
  return items;
}

/** The pieces both backends dispatch; attention as `pagedAttention` runs it for `fused`. */
function sharedPieces(c: LlamaKernelConfig, fused: boolean): KernelPiece[] {
  const attention = pagedAttentionOptions({
    heads: c.heads,
    kvHeads: c.kvHeads,
    headDim: c.headDim,
    blockSize: c.blockSize,
    maxBlocks: c.maxBlocks,
  }, { fused });
  return [
    fixedPiece(KERNELS.embedding({ dtype: c.dtype, dim: c.hidden })),
    fixedPiece(
      KERNELS.rope({
        heads: c.heads,
        headDim: c.headDim,
        theta: c.ropeTheta,
        mode: c.ropeMode,
        freqFactors: c.ropeFreqFactors,
      }),
    ),
    fixedPiece(
      KERNELS.rope({
        heads: c.kvHeads,
        headDim: c.headDim,
        theta: c.ropeTheta,
        mode: c.ropeMode,
        freqFactors: c.ropeFreqFactors,
      }),
    ),
    fixedPiece(
      KERNELS.kvAppend({
        kvHeads: c.kvHeads,
        headDim: c.headDim,
        paged: { blockSize: c.blockSize, maxBlocks: c.maxBlocks },
      }),
    ),
    fixedPiece(KERNELS.attentionSplit(attention)),
    ...(attention.fuseMerge ? [] : [fixedPiece(KERNELS.attentionMerge(attention))]),
    fixedPiece(KERNELS.sample({ vocab: c.vocab })),
    fixedPiece(KERNELS.argmax({ vocab: c.vocab })),
    fixedPiece(KERNELS.advance()),
  ];
}

/**
 * With `int8` and a quantised GEMV bucket: the quantise kernel of each distinct K of `ks`
 * (the int8 GEMV's first dispatch); otherwise none.
 */
function quantizePieces(
  c: LlamaKernelConfig,
  m: number,
  int8: "auto" | "force" | undefined,
  ks: readonly number[],
): KernelPiece[] {
  if (!int8 || m > GEMV_MAX_ROWS || (c.dtype !== "q8_0" && c.dtype !== "q4_0")) return [];
  return [...new Set(ks)].map((k) => fixedPiece(KERNELS.quantizeRows({ k })));
}

function fusedPieces(
  c: LlamaKernelConfig,
  m: number,
  int8: "auto" | "force" | undefined,
): KernelPiece[] {
  const q = c.heads * c.headDim, kv = c.kvHeads * c.headDim;
  const matmulPiece = (o: MatmulPieceOptions) => piece({ ...o, int8 });
  return [
    ...sharedPieces(c, true),
    ...quantizePieces(c, m, int8, [c.hidden, q, c.intermediate]),
    fixedPiece(KERNELS.rmsnorm({ dim: c.hidden, eps: c.eps })),
    fixedPiece(KERNELS.rmsnorm({ dim: c.hidden, eps: c.eps, fusedResidual: true })),
    matmulPiece({
      dtype: c.dtype,
      m,
      n: q + 2 * kv,
      k: c.hidden,
      bias: c.qkvBias,
      epilogue: { kind: "split3", sizes: [q, kv, kv] },
    }),
    matmulPiece({ dtype: c.dtype, m, n: c.hidden, k: q }),
    matmulPiece({
      dtype: c.dtype,
      m,
      n: c.intermediate,
      k: c.hidden,
      epilogue: { kind: "gate_up_silu" },
    }),
    matmulPiece({ dtype: c.dtype, m, n: c.hidden, k: c.intermediate }),
    matmulPiece({ dtype: c.dtype, m, n: c.vocab, k: c.hidden }),
  ];
}

/** What `webgpu-eager` dispatches: default tuning, one kernel per op (see its backend). */
function eagerPieces(
  c: LlamaKernelConfig,
  m: number,
  int8: "auto" | "force" | undefined,
): KernelPiece[] {
  const q = c.heads * c.headDim, kv = c.kvHeads * c.headDim;
  const matmulPiece = (o: MatmulPieceOptions) => piece({ ...o, int8 });
  const untuned = (piece: KernelPiece): KernelPiece => ({
    name: piece.name,
    candidates: [piece.candidates[0]],
    generate: piece.generate,
  });
  return [
    ...sharedPieces(c, false),
    ...quantizePieces(c, m, int8, [c.hidden, q, c.intermediate]),
    fixedPiece(KERNELS.rmsnorm({ dim: c.hidden, eps: c.eps })),
    fixedPiece(KERNELS.elementwise("add")),
    fixedPiece(KERNELS.elementwise("silu_mul_halves")),
    untuned(matmulPiece({
      dtype: c.dtype,
      m,
      n: q + 2 * kv,
      k: c.hidden,
      bias: c.qkvBias,
      epilogue: { kind: "split3", sizes: [q, kv, kv] },
    })),
    ...[[c.hidden, q], [2 * c.intermediate, c.hidden], [c.hidden, c.intermediate], [
      c.vocab,
      c.hidden,
    ]].map(([n, k]) => untuned(matmulPiece({ dtype: c.dtype, m, n, k }))),
  ];
}
