/**
 * `EngineConfig`: what `start()` reports about the started engine. The worker
 * publishes it in the model card so routers and frontends can plan.
 *
 * @module
 */
import { z } from "zod";
import type { Expect, IsSameType, Schema } from "./schema.ts";
import { type ModelFiles, ModelFileSchema } from "../model_card/model_card.ts";

/**
 * What a started engine reports. Optional fields that the engine does not know MUST be
 * left out rather than guessed: routers and frontends plan with them.
 */
export interface EngineConfig {
  /** The model the engine loaded (path or id). Required and non-empty. */
  model: string;
  /**
   * The name clients use for the model. The worker's `served_model_name` takes
   * precedence; when both are absent, `model` is used.
   */
  served_model_name?: string;
  /**
   * The longest sequence the engine accepts, in tokens. The worker refuses longer prompts
   * (`context_length_exceeded`) and the frontend checks prompt plus `max_tokens` against it.
   */
  context_length?: number;
  /**
   * Tokens per KV-cache block. Absent: no block-structured KV; KV routing then falls back
   * to load-based routing.
   */
  kv_cache_block_size?: number;
  /** Blocks in the KV cache; published in the model card and as the `total_blocks` gauge. */
  total_kv_blocks?: number;
  /** Most sequences the engine schedules at once; published in the model card. */
  max_num_seqs?: number;
  /** Most tokens in one scheduler step; published in the model card. */
  max_num_batched_tokens?: number;
  /** Data-parallel ranks this engine runs; published in the model card. */
  data_parallel_size?: number;
  /** First data-parallel rank of this engine. Accepted for Dynamo parity; not read by the runtime. */
  data_parallel_start_rank?: number;
  /** Engine-specific data. Accepted for Dynamo parity; not read by the runtime. */
  runtime_data?: Record<string, unknown>;
  /**
   * Tokenizer and chat-template files the engine found with its weights (for example the GGUF
   * file it loaded, role `gguf`), published in the model card so the frontend tokenizes as the
   * model expects. Files given to the worker directly take precedence, role by role.
   */
  model_files?: ModelFiles;
}

function isModelFile(value: unknown): boolean {
  return ModelFileSchema.safeParse(value).success;
}

const schema = z.object({
  model: z.string().min(1),
  served_model_name: z.string().min(1).optional(),
  context_length: z.number().int().positive().optional(),
  kv_cache_block_size: z.number().int().positive().optional(),
  total_kv_blocks: z.number().int().nonnegative().optional(),
  max_num_seqs: z.number().int().positive().optional(),
  max_num_batched_tokens: z.number().int().positive().optional(),
  data_parallel_size: z.number().int().positive().optional(),
  data_parallel_start_rank: z.number().int().nonnegative().optional(),
  runtime_data: z.record(z.string(), z.unknown()).optional(),
  model_files: z.object({
    tokenizer: z.custom<ModelFiles["tokenizer"]>(isModelFile).optional(),
    tokenizer_config: z.custom<ModelFiles["tokenizer"]>(isModelFile).optional(),
    chat_template: z.custom<ModelFiles["tokenizer"]>(isModelFile).optional(),
    generation_config: z.custom<ModelFiles["tokenizer"]>(isModelFile).optional(),
    gguf: z.custom<ModelFiles["tokenizer"]>(isModelFile).optional(),
  }).optional(),
});

/** The schema of {@linkcode EngineConfig}; `model` is required and non-empty. */
export const EngineConfigSchema: Schema<EngineConfig> = schema;

type _SameShape = Expect<IsSameType<EngineConfig, z.output<typeof schema>>>;
