/**
 * The model card a worker registers after `start()`, built from its
 * configuration and what the engine reported.
 *
 * @module
 */
import type { EngineConfig } from "../engine/engine_config.ts";
import type { WorkerConfig } from "../engine/worker_config.ts";
import type { ModelCardInput } from "../model_card/model_card.ts";

/** What {@linkcode buildModelCard} combines. */
export interface ModelCardSources {
  config: WorkerConfig;
  engineConfig: EngineConfig;
  /** Decimal 64-bit instance id. */
  instanceId: string;
  /** Extra fields (tokenizer files, EOS ids) that override the derived ones. */
  extra?: Partial<ModelCardInput>;
}

/**
 * Builds the card: served name from the config, else the engine's served name, else its
 * model; KV and runtime limits from the engine; migration limit and custom template from
 * the config; then `extra`; files from the engine (`model_files`) and `extra`, role by role;
 * the instance id always last.
 */
export function buildModelCard(sources: ModelCardSources): ModelCardInput {
  const { config, engineConfig: ec } = sources;
  return {
    served_model_name: config.served_model_name ?? ec.served_model_name ?? ec.model,
    model_name: config.model_name,
    model_type: config.endpoint_types.split(",") as ("chat" | "completions")[],
    model_input: "Tokens",
    context_length: ec.context_length,
    kv_cache_block_size: ec.kv_cache_block_size,
    total_kv_blocks: ec.total_kv_blocks,
    runtime_config: {
      max_num_seqs: ec.max_num_seqs,
      max_num_batched_tokens: ec.max_num_batched_tokens,
      data_parallel_size: ec.data_parallel_size,
    },
    migration_limit: config.migration_limit,
    custom_chat_template: config.custom_jinja_template,
    ...sources.extra,
    files: ec.model_files === undefined && sources.extra?.files === undefined
      ? undefined
      : { ...ec.model_files, ...sources.extra?.files },
    instance_id: sources.instanceId,
  };
}
