/**
 * Maps a Hugging Face checkpoint (`config.json` plus safetensors files) of a
 * `LlamaForCausalLM`, `MistralForCausalLM` or `Qwen2ForCausalLM` onto a {@link LlamaCheckpoint}.
 * HF Q/K weights are in rotate-half order, so the RoPE mode is `neox`.
 *
 * @example
 * ```ts ignore
 * import { llamaCheckpointFromHf } from "./hf_llama.ts";
 * const checkpoint = llamaCheckpointFromHf(JSON.parse(configText), [readSafetensors(bytes)]);
 * ```
 */
import { z } from "zod";
import {
  checkCheckpointShapes,
  llama3FreqFactors,
  type LlamaArchitecture,
  type LlamaCheckpoint,
  type LlamaLayerHostWeights,
  ropeModeFor,
} from "../llama_config.ts";
import { ModelFileError } from "../model_file_error.ts";
import {
  type SafetensorsFile,
  type SafetensorsTensor,
  safetensorsVector,
  safetensorsWeight,
} from "./safetensors_reader.ts";

const ARCHITECTURES: Readonly<Record<string, LlamaArchitecture>> = {
  LlamaForCausalLM: "llama",
  MistralForCausalLM: "mistral",
  Qwen2ForCausalLM: "qwen2",
};

const positive = z.number().int().positive();
const configSchema = z.object({
  architectures: z.array(z.string()).min(1),
  hidden_size: positive,
  intermediate_size: positive,
  num_hidden_layers: positive,
  num_attention_heads: positive,
  num_key_value_heads: positive.optional(),
  head_dim: positive.nullish(),
  vocab_size: positive,
  max_position_embeddings: positive.optional(),
  rms_norm_eps: z.number().positive().optional(),
  rope_theta: z.number().positive().optional(),
  rope_scaling: z.object({
    type: z.string().optional(),
    rope_type: z.string().optional(),
    factor: z.number().positive().optional(),
    low_freq_factor: z.number().positive().optional(),
    high_freq_factor: z.number().positive().optional(),
    original_max_position_embeddings: positive.optional(),
  }).passthrough().nullish(),
  tie_word_embeddings: z.boolean().optional(),
  sliding_window: positive.nullish(),
  use_sliding_window: z.boolean().optional(),
  attention_bias: z.boolean().optional(),
  bos_token_id: z.number().int().nonnegative().nullish(),
  eos_token_id: z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())])
    .nullish(),
}).passthrough();

/**
 * Builds the checkpoint from a parsed `config.json` and the safetensors files holding its
 * tensors. Throws {@link ModelFileError}: `corrupt` for a malformed config,
 * `unsupported_architecture`, `missing_tensor`, `unsupported_type` or `bad_shape`.
 */
export function llamaCheckpointFromHf(
  configJson: unknown,
  files: readonly SafetensorsFile[],
): LlamaCheckpoint {
  const parsed = configSchema.safeParse(configJson);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelFileError(
      "corrupt",
      `Cannot load config.json: ${issue?.path.join(".") || "it"} ${issue?.message ?? "is invalid"}`,
    );
  }
  const c = parsed.data;
  const arch = ARCHITECTURES[c.architectures[0]];
  if (!arch) {
    throw new ModelFileError(
      "unsupported_architecture",
      `Cannot load the model: architecture ${c.architectures[0]} is not supported ` +
        `(supported: ${Object.keys(ARCHITECTURES).join(", ")})`,
    );
  }
  const scaling = c.rope_scaling?.rope_type ?? c.rope_scaling?.type;
  const rs = c.rope_scaling;
  const llama3 = scaling === "llama3" && rs?.factor && rs.low_freq_factor &&
      rs.high_freq_factor && rs.original_max_position_embeddings
    ? {
      factor: rs.factor,
      lowFreqFactor: rs.low_freq_factor,
      highFreqFactor: rs.high_freq_factor,
      originalMaxPositionEmbeddings: rs.original_max_position_embeddings,
    }
    : undefined;
  if (scaling && scaling !== "default" && !llama3) {
    throw new ModelFileError(
      "unsupported_architecture",
      `Cannot load the model: RoPE scaling "${scaling}" is not supported` +
        (scaling === "llama3"
          ? " without factor, low/high_freq_factor and the original length"
          : ""),
    );
  }
  const all = new Map<string, SafetensorsTensor>();
  for (const f of files) for (const [name, t] of f.tensors) all.set(name, t);
  const tensor = (name: string) => {
    const t = all.get(name);
    if (!t) {
      throw new ModelFileError(
        "missing_tensor",
        `Cannot load the model: tensor ${name} is missing`,
      );
    }
    return t;
  };
  const qkvBias = all.has("model.layers.0.self_attn.q_proj.bias");
  const lmHead = all.get("lm_head.weight");
  const tied = lmHead === undefined;
  const eos = c.eos_token_id;
  const config = {
    arch,
    hidden: c.hidden_size,
    intermediate: c.intermediate_size,
    layers: c.num_hidden_layers,
    heads: c.num_attention_heads,
    kvHeads: c.num_key_value_heads ?? c.num_attention_heads,
    headDim: c.head_dim ?? c.hidden_size / c.num_attention_heads,
    vocab: c.vocab_size,
    // Sliding-window attention (Mistral v0.1) equals full attention up to the window, so the
    // context served is capped there instead of implementing the window.
    contextLength: Math.min(
      c.max_position_embeddings ?? 2048,
      c.sliding_window && c.use_sliding_window !== false ? c.sliding_window : Infinity,
    ),
    ropeTheta: c.rope_theta ?? 10000,
    ropeMode: ropeModeFor("safetensors", arch),
    ...(llama3
      ? {
        ropeFreqFactors: llama3FreqFactors(
          c.head_dim ?? c.hidden_size / c.num_attention_heads,
          c.rope_theta ?? 10000,
          llama3,
        ),
      }
      : {}),
    eps: c.rms_norm_eps ?? 1e-6,
    qkvBias,
    tiedEmbeddings: tied,
    ...(c.bos_token_id == null ? {} : { bosTokenId: c.bos_token_id }),
    eosTokenIds: eos == null ? [] : Array.isArray(eos) ? eos : [eos],
  };
  const layers = Array.from({ length: config.layers }, (_, i): LlamaLayerHostWeights => {
    const p = `model.layers.${i}.`;
    const bias = qkvBias
      ? {
        qBias: safetensorsVector(tensor(`${p}self_attn.q_proj.bias`)),
        kBias: safetensorsVector(tensor(`${p}self_attn.k_proj.bias`)),
        vBias: safetensorsVector(tensor(`${p}self_attn.v_proj.bias`)),
      }
      : {};
    return {
      attnNorm: safetensorsVector(tensor(`${p}input_layernorm.weight`)),
      q: safetensorsWeight(tensor(`${p}self_attn.q_proj.weight`)),
      k: safetensorsWeight(tensor(`${p}self_attn.k_proj.weight`)),
      v: safetensorsWeight(tensor(`${p}self_attn.v_proj.weight`)),
      ...bias,
      o: safetensorsWeight(tensor(`${p}self_attn.o_proj.weight`)),
      mlpNorm: safetensorsVector(tensor(`${p}post_attention_layernorm.weight`)),
      gate: safetensorsWeight(tensor(`${p}mlp.gate_proj.weight`)),
      up: safetensorsWeight(tensor(`${p}mlp.up_proj.weight`)),
      down: safetensorsWeight(tensor(`${p}mlp.down_proj.weight`)),
    };
  });
  const checkpoint: LlamaCheckpoint = {
    format: "safetensors",
    config,
    embedding: safetensorsWeight(tensor("model.embed_tokens.weight")),
    layers,
    finalNorm: safetensorsVector(tensor("model.norm.weight")),
    ...(lmHead ? { lmHead: safetensorsWeight(lmHead) } : {}),
  };
  checkCheckpointShapes(checkpoint);
  return checkpoint;
}
