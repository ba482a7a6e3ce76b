/**
 * Maps a parsed GGUF file of architecture `llama` (Llama 2/3, Mistral) or `qwen2` onto a
 * {@link LlamaCheckpoint}, with llama.cpp's tensor names (`token_embd`, `blk.N.attn_q`, ...)
 * and metadata keys (`{arch}.embedding_length`, ...). Weights stay as stored: a GGUF `llama`
 * file's Q/K rows are in the converter's permuted order, so its RoPE mode is `interleaved`.
 *
 * @example
 * ```ts ignore
 * import { readGguf } from "./gguf_model_file.ts";
 * import { llamaCheckpointFromGguf } from "./gguf_llama.ts";
 * const checkpoint = llamaCheckpointFromGguf(await readGguf(bytes));
 * ```
 */
import {
  checkCheckpointShapes,
  type LlamaArchitecture,
  type LlamaCheckpoint,
  type LlamaLayerHostWeights,
  numberField,
  positiveField,
  ropeModeFor,
} from "../llama_config.ts";
import { ModelFileError } from "../model_file_error.ts";
import { type GgufFile, type GgufTensor, ggufVector, ggufWeight } from "./gguf_model_file.ts";

const ARCHITECTURES: Readonly<Record<string, LlamaArchitecture>> = {
  llama: "llama",
  qwen2: "qwen2",
  mistral: "mistral",
};

/**
 * Builds the checkpoint. Throws {@link ModelFileError}: `unsupported_architecture` (naming it),
 * `missing_tensor`, `unsupported_type` (naming the GGML type) or `bad_shape`.
 */
export function llamaCheckpointFromGguf(file: GgufFile): LlamaCheckpoint {
  const m = file.metadata;
  const archName = String(m["general.architecture"] ?? "");
  const arch = ARCHITECTURES[archName];
  if (!arch) {
    throw new ModelFileError(
      "unsupported_architecture",
      `Cannot load the GGUF model: architecture "${archName}" is not supported ` +
        `(supported: ${Object.keys(ARCHITECTURES).join(", ")})`,
    );
  }
  const key = (k: string) => m[`${archName}.${k}`];
  const scaling = key("rope.scaling.type");
  if (scaling !== undefined && scaling !== "none") {
    throw new ModelFileError(
      "unsupported_architecture",
      `Cannot load the GGUF model: RoPE scaling "${scaling}" is not supported`,
    );
  }
  const tensor = (name: string): GgufTensor => {
    const t = file.tensors.get(name);
    if (!t) {
      throw new ModelFileError(
        "missing_tensor",
        `Cannot load the GGUF model: tensor ${name} is missing`,
      );
    }
    return t;
  };
  const optional = (name: string) => file.tensors.get(name);
  const hidden = positiveField(key("embedding_length"), `${archName}.embedding_length`);
  const heads = positiveField(key("attention.head_count"), `${archName}.attention.head_count`);
  const kvHeads = key("attention.head_count_kv") === undefined
    ? heads
    : positiveField(key("attention.head_count_kv"), `${archName}.attention.head_count_kv`);
  const layers = positiveField(key("block_count"), `${archName}.block_count`);
  const embedding = ggufWeight(tensor("token_embd.weight"));
  const headDim = key("attention.key_length") === undefined
    ? hidden / heads
    : positiveField(key("attention.key_length"), `${archName}.attention.key_length`);
  const rotary = key("rope.dimension_count");
  if (rotary !== undefined && Number(rotary) !== headDim) {
    throw new ModelFileError(
      "unsupported_architecture",
      `Cannot load the GGUF model: partial RoPE (${rotary} of ${headDim} dims) is not supported`,
    );
  }
  const qBias = optional("blk.0.attn_q.bias");
  // Llama 3.1+ RoPE scaling: llama.cpp's converter stores the per-pair divisors.
  const freqs = optional("rope_freqs.weight");
  const ropeFreqFactors = freqs ? [...ggufVector(freqs)] : undefined;
  if (ropeFreqFactors && ropeFreqFactors.length * 2 !== headDim) {
    throw new ModelFileError(
      "bad_shape",
      `Cannot load the GGUF model: rope_freqs.weight has ${ropeFreqFactors.length} values, ` +
        `expected ${headDim / 2}`,
    );
  }
  const lmHead = optional("output.weight");
  const eos = m["tokenizer.ggml.eos_token_id"];
  const bos = m["tokenizer.ggml.bos_token_id"];
  const config = {
    arch,
    hidden,
    intermediate: positiveField(key("feed_forward_length"), `${archName}.feed_forward_length`),
    layers,
    heads,
    kvHeads,
    headDim: positiveField(headDim, "the head dimension"),
    vocab: embedding.shape[0],
    contextLength: numberField(key("context_length"), `${archName}.context_length`, 2048),
    ropeTheta: numberField(key("rope.freq_base"), `${archName}.rope.freq_base`, 10000),
    ropeMode: ropeModeFor("gguf", arch),
    ...(ropeFreqFactors ? { ropeFreqFactors } : {}),
    eps: numberField(
      key("attention.layer_norm_rms_epsilon"),
      `${archName}.attention.layer_norm_rms_epsilon`,
      1e-5,
    ),
    qkvBias: qBias !== undefined,
    tiedEmbeddings: lmHead === undefined,
    ...(bos === undefined ? {} : { bosTokenId: Number(bos) }),
    eosTokenIds: eos === undefined ? [] : [Number(eos)],
  };
  const layerWeights = Array.from({ length: layers }, (_, i): LlamaLayerHostWeights => {
    const p = `blk.${i}.`;
    const bias = config.qkvBias
      ? {
        qBias: ggufVector(tensor(`${p}attn_q.bias`)),
        kBias: ggufVector(tensor(`${p}attn_k.bias`)),
        vBias: ggufVector(tensor(`${p}attn_v.bias`)),
      }
      : {};
    return {
      attnNorm: ggufVector(tensor(`${p}attn_norm.weight`)),
      q: ggufWeight(tensor(`${p}attn_q.weight`)),
      k: ggufWeight(tensor(`${p}attn_k.weight`)),
      v: ggufWeight(tensor(`${p}attn_v.weight`)),
      ...bias,
      o: ggufWeight(tensor(`${p}attn_output.weight`)),
      mlpNorm: ggufVector(tensor(`${p}ffn_norm.weight`)),
      gate: ggufWeight(tensor(`${p}ffn_gate.weight`)),
      up: ggufWeight(tensor(`${p}ffn_up.weight`)),
      down: ggufWeight(tensor(`${p}ffn_down.weight`)),
    };
  });
  const checkpoint: LlamaCheckpoint = {
    format: "gguf",
    config,
    embedding,
    layers: layerWeights,
    finalNorm: ggufVector(tensor("output_norm.weight")),
    ...(lmHead ? { lmHead: ggufWeight(lmHead) } : {}),
  };
  checkCheckpointShapes(checkpoint);
  return checkpoint;
}
