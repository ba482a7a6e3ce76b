/**
 * One description of a Llama-architecture decoder (Llama 2/3, Mistral-style, Qwen2 with QKV
 * biases; GQA; tied or untied output), whatever file it came from, and its host-side weights.
 * Both readers (GGUF, safetensors) produce a {@link LlamaCheckpoint}; the engine uploads it to
 * a backend with `uploadLlamaCheckpoint`.
 *
 * RoPE pairing follows the file format: GGUF `llama` Q/K rows are permuted by the converter so
 * that rotation pairs are adjacent (`interleaved`), while HF safetensors weights and GGUF
 * `qwen2` use rotate-half (`neox`). Loading weights of one layout with the other pairing gives
 * fluent-looking garbage, so {@link ropeModeFor} is the one place that decides it.
 *
 * @example
 * ```ts
 * import { ropeModeFor } from "./llama_config.ts";
 * console.assert(ropeModeFor("gguf", "llama") === "interleaved");
 * console.assert(ropeModeFor("safetensors", "llama") === "neox");
 * ```
 */
import type { HostWeight } from "../gpu/kernels/host_weight.ts";
import type { RopeMode } from "../gpu/kernels/rope.ts";
import { ModelFileError } from "./model_file_error.ts";

/** The architectures the engine runs. Mistral-style models are `llama` in GGUF. */
export type LlamaArchitecture = "llama" | "qwen2" | "mistral";

/** Where a checkpoint came from. */
export type CheckpointFormat = "gguf" | "safetensors";

/** The dimensions and conventions of a Llama-family model. */
export interface LlamaModelConfig {
  /** Architecture family. */
  readonly arch: LlamaArchitecture;
  /** Hidden size. */
  readonly hidden: number;
  /** MLP intermediate size. */
  readonly intermediate: number;
  /** Transformer layers. */
  readonly layers: number;
  /** Query heads. */
  readonly heads: number;
  /** KV heads (GQA when below `heads`). */
  readonly kvHeads: number;
  /** Head dimension. */
  readonly headDim: number;
  /** Vocabulary size (rows of the embedding). */
  readonly vocab: number;
  /** Longest context the model was trained for. */
  readonly contextLength: number;
  /** RoPE frequency base. */
  readonly ropeTheta: number;
  /** RoPE pairing the weights expect (see {@link ropeModeFor}). */
  readonly ropeMode: RopeMode;
  /**
   * Llama 3 RoPE scaling as per-pair frequency divisors (`headDim / 2` values; GGUF
   * `rope_freqs.weight`, or computed from an HF `rope_scaling` of type `llama3`); absent: none.
   */
  readonly ropeFreqFactors?: readonly number[];
  /** RMSNorm epsilon. */
  readonly eps: number;
  /** Q, K and V projections carry biases (Qwen2). */
  readonly qkvBias: boolean;
  /** The LM head is the embedding table. */
  readonly tiedEmbeddings: boolean;
  /** Beginning-of-sequence id, when the files name one. */
  readonly bosTokenId?: number;
  /** End-of-sequence ids the files name (may be empty). */
  readonly eosTokenIds: readonly number[];
}

/** One layer's host weights; matrices `[out, in]` row-major. */
export interface LlamaLayerHostWeights {
  readonly attnNorm: Float32Array;
  readonly q: HostWeight;
  readonly k: HostWeight;
  readonly v: HostWeight;
  /** Present exactly when `config.qkvBias`. */
  readonly qBias?: Float32Array;
  readonly kBias?: Float32Array;
  readonly vBias?: Float32Array;
  readonly o: HostWeight;
  readonly mlpNorm: Float32Array;
  readonly gate: HostWeight;
  readonly up: HostWeight;
  readonly down: HostWeight;
}

/** A loaded model: its description and host weights in the layout its RoPE mode expects. */
export interface LlamaCheckpoint {
  /** The file format it came from. */
  readonly format: CheckpointFormat;
  /** Dimensions and conventions. */
  readonly config: LlamaModelConfig;
  /** `[vocab, hidden]`. */
  readonly embedding: HostWeight;
  /** One entry per layer. */
  readonly layers: readonly LlamaLayerHostWeights[];
  /** `[hidden]`. */
  readonly finalNorm: Float32Array;
  /** `[vocab, hidden]`; absent when `config.tiedEmbeddings`. */
  readonly lmHead?: HostWeight;
}

/** The RoPE pairing of a format and architecture's weights. */
export function ropeModeFor(format: CheckpointFormat, arch: LlamaArchitecture): RopeMode {
  return format === "gguf" && arch !== "qwen2" ? "interleaved" : "neox";
}

/**
 * Checks that every weight of `checkpoint` has the shape its config implies; throws
 * {@link ModelFileError} (`bad_shape`) naming the first that does not.
 */
export function checkCheckpointShapes(checkpoint: LlamaCheckpoint): void {
  const c = checkpoint.config;
  const q = c.heads * c.headDim, kv = c.kvHeads * c.headDim;
  const fail = (what: string, got: readonly number[], want: readonly number[]) => {
    throw new ModelFileError(
      "bad_shape",
      `Cannot load the model: ${what} has shape [${got}], expected [${want}] from its config`,
    );
  };
  const matrix = (what: string, w: HostWeight, rows: number, cols: number) => {
    if (w.shape[0] !== rows || w.shape[1] !== cols) fail(what, w.shape, [rows, cols]);
  };
  const vector = (what: string, v: Float32Array | undefined, n: number) => {
    if (!v || v.length !== n) fail(what, [v?.length ?? 0], [n]);
  };
  if (c.heads % c.kvHeads !== 0) {
    throw new ModelFileError(
      "bad_shape",
      `Cannot load the model: ${c.heads} query heads are not a multiple of ${c.kvHeads} KV heads`,
    );
  }
  matrix("the embedding", checkpoint.embedding, c.vocab, c.hidden);
  if (checkpoint.lmHead) matrix("the output", checkpoint.lmHead, c.vocab, c.hidden);
  vector("the final norm", checkpoint.finalNorm, c.hidden);
  if (checkpoint.layers.length !== c.layers) {
    fail("the layer list", [checkpoint.layers.length], [c.layers]);
  }
  checkpoint.layers.forEach((l, i) => {
    vector(`layer ${i} attention norm`, l.attnNorm, c.hidden);
    matrix(`layer ${i} q`, l.q, q, c.hidden);
    matrix(`layer ${i} k`, l.k, kv, c.hidden);
    matrix(`layer ${i} v`, l.v, kv, c.hidden);
    if (c.qkvBias) {
      vector(`layer ${i} q bias`, l.qBias, q);
      vector(`layer ${i} k bias`, l.kBias, kv);
      vector(`layer ${i} v bias`, l.vBias, kv);
    }
    matrix(`layer ${i} o`, l.o, c.hidden, q);
    vector(`layer ${i} MLP norm`, l.mlpNorm, c.hidden);
    matrix(`layer ${i} gate`, l.gate, c.intermediate, c.hidden);
    matrix(`layer ${i} up`, l.up, c.intermediate, c.hidden);
    matrix(`layer ${i} down`, l.down, c.hidden, c.intermediate);
  });
}

/** Reads a positive integer field of a config, or throws {@link ModelFileError} (`corrupt`). */
export function positiveField(value: unknown, what: string): number {
  const n = typeof value === "bigint" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n <= 0) {
    throw new ModelFileError(
      "corrupt",
      `Cannot load the model: ${what} is ${JSON.stringify(String(value))}, not a positive integer`,
    );
  }
  return n;
}

/** Reads a positive number field, or `fallback` when absent; throws on a bad value. */
export function numberField(value: unknown, what: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  const n = typeof value === "bigint" ? Number(value) : value;
  if (typeof n !== "number" || !(n > 0) || !Number.isFinite(n)) {
    throw new ModelFileError(
      "corrupt",
      `Cannot load the model: ${what} is ${JSON.stringify(String(value))}, not a positive number`,
    );
  }
  return n;
}

/** HF `rope_scaling` of type `llama3`. */
export interface Llama3RopeScaling {
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositionEmbeddings: number;
}

/**
 * The per-pair frequency divisors of Llama 3 RoPE scaling (transformers'
 * `_compute_llama3_parameters`, as llama.cpp's converter writes them to `rope_freqs`): long
 * wavelengths are slowed by `factor`, short ones kept, the band between interpolated.
 */
export function llama3FreqFactors(
  headDim: number,
  theta: number,
  s: Llama3RopeScaling,
): number[] {
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  return Array.from({ length: headDim / 2 }, (_, i) => {
    const wavelen = 2 * Math.PI * Math.pow(theta, (2 * i) / headDim);
    if (wavelen < highWavelen) return 1;
    if (wavelen > lowWavelen) return s.factor;
    const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) /
      (s.highFreqFactor - s.lowFreqFactor);
    return 1 / ((1 - smooth) / s.factor + smooth);
  });
}
