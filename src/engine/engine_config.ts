/**
 * `EngineConfig`: what `start()` reports about the started engine. The worker
 * publishes it in the model card so routers and frontends can plan.
 *
 * @module
 */
import { z } from "zod";

/** The schema of {@linkcode EngineConfig}; `model` is required and non-empty. */
export const EngineConfigSchema = z.object({
  model: z.string().min(1),
  served_model_name: z.string().min(1).optional(),
  context_length: z.number().int().positive().optional(),
  /** Absent: no block-structured KV; KV routing then falls back to load-based routing. */
  kv_cache_block_size: z.number().int().positive().optional(),
  total_kv_blocks: z.number().int().nonnegative().optional(),
  max_num_seqs: z.number().int().positive().optional(),
  max_num_batched_tokens: z.number().int().positive().optional(),
  data_parallel_size: z.number().int().positive().optional(),
  data_parallel_start_rank: z.number().int().nonnegative().optional(),
  runtime_data: z.record(z.string(), z.unknown()).optional(),
});

/** What a started engine reports. */
export type EngineConfig = z.output<typeof EngineConfigSchema>;
