/**
 * The model card ("MDC" in Dynamo): what a worker publishes in discovery after
 * `start()` so frontends can serve its model with no configuration of their own.
 *
 * @module
 */
import { z } from "zod";

/** A file the frontend needs (tokenizer, chat template, generation config). */
export const ModelFileSchema = z.object({
  /** Local path (shared filesystem or same host) or URL. */
  path: z.string().min(1).optional(),
  url: z.string().url().optional(),
  /** Hex SHA-256 of the content; the frontend verifies it. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
}).refine((f) => f.path !== undefined || f.url !== undefined, {
  message: "a model file needs a path or a url",
});

/** The schema of {@linkcode ModelCard}. */
export const ModelCardSchema = z.object({
  served_model_name: z.string().min(1),
  /** Where tokenizer files come from (path or hub id the worker was given). */
  model_name: z.string().min(1),
  model_type: z.array(z.enum(["chat", "completions"])).min(1),
  model_input: z.literal("Tokens"),
  context_length: z.number().int().positive().optional(),
  kv_cache_block_size: z.number().int().positive().optional(),
  total_kv_blocks: z.number().int().nonnegative().optional(),
  runtime_config: z.object({
    max_num_seqs: z.number().int().positive().optional(),
    max_num_batched_tokens: z.number().int().positive().optional(),
    data_parallel_size: z.number().int().positive().optional(),
  }).default({}),
  migration_limit: z.number().int().min(0).default(0),
  /**
   * Tokenizer and template files. `tokenizer` absent means the frontend's bundled default
   * tokenizer (the embedded default ships one).
   */
  files: z.object({
    tokenizer: ModelFileSchema.optional(),
    tokenizer_config: ModelFileSchema.optional(),
    chat_template: ModelFileSchema.optional(),
    generation_config: ModelFileSchema.optional(),
  }).default({}),
  /** Inline custom Jinja chat template (`--custom-jinja-template`), small by nature. */
  custom_chat_template: z.string().optional(),
  eos_token_ids: z.array(z.number().int().nonnegative()).optional(),
  instance_id: z.string().regex(/^[0-9]+$/),
});

/** A model card as stored in discovery under `v1/mdc/...`. */
export type ModelCard = z.output<typeof ModelCardSchema>;
/** A model card as workers write it. */
export type ModelCardInput = z.input<typeof ModelCardSchema>;

/** The endpoint record stored under `v1/instances/...`. */
export interface InstanceRecord {
  namespace: string;
  component: string;
  endpoint: string;
  /** Decimal string: 64-bit ids never travel as JSON numbers. */
  instance_id: string;
  transport: { inprocess: string } | { nats: string };
  /** Admission limit advertised to routers, when set. */
  max_inflight_requests?: number;
}
