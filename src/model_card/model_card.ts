/**
 * The model card ("MDC" in Dynamo): what a worker publishes in discovery after
 * `start()` so frontends can serve its model with no configuration of their own.
 *
 * @module
 */
import { z } from "zod";
import type { Expect, IsSameType, Schema } from "../engine/schema.ts";

/**
 * A model card as stored in discovery under `v1/mdc/...` (defaults filled in). One per
 * worker instance; frontends serve a model while at least one card names it.
 */
export interface ModelCard {
  /** The name clients use for the model. */
  served_model_name: string;
  /** Where tokenizer files come from (path or hub id the worker was given). */
  model_name: string;
  /** The APIs the model is offered on: `chat`, `completions` or both (at least one). */
  model_type: ("chat" | "completions")[];
  /** What the worker takes: always `"Tokens"` (the frontend tokenizes). */
  model_input: "Tokens";
  /** The longest sequence the engine accepts, in tokens. */
  context_length?: number;
  /** Tokens per KV-cache block; absent: no block-structured KV. */
  kv_cache_block_size?: number;
  /** Blocks in the engine's KV cache. */
  total_kv_blocks?: number;
  /** Scheduling limits of the engine, from its `EngineConfig`. Default `{}`. */
  runtime_config: {
    /** Most sequences the engine schedules at once. */
    max_num_seqs?: number;
    /** Most tokens in one scheduler step. */
    max_num_batched_tokens?: number;
    /** Data-parallel ranks the engine runs. */
    data_parallel_size?: number;
  };
  /** Times a router may retry a request on another worker after a disconnect. Default 0. */
  migration_limit: number;
  /**
   * The files a frontend may need, by role: `tokenizer` (`tokenizer.json`; absent means the
   * frontend's bundled default tokenizer), `tokenizer_config` (`tokenizer_config.json`),
   * `chat_template` and `generation_config`. Each has a `path` or a `url` (at least one)
   * and the `sha256` the frontend MUST verify before use, so that a card cannot make a
   * frontend load files other than the worker's. Default `{}`.
   *
   * `gguf` names a GGUF model file whose `tokenizer.ggml.*` metadata and
   * `tokenizer.chat_template` serve as tokenizer and chat template (used when `tokenizer` is
   * absent). Its `size` and `sha256` cover only the file's first `size` bytes (header and
   * metadata, up to the tensor infos): the frontend reads that prefix and never the weights.
   */
  files: {
    [K in "tokenizer" | "tokenizer_config" | "chat_template" | "generation_config" | "gguf"]?: {
      /** Local path (shared filesystem or same host). */
      path?: string;
      /** URL to fetch the file from. */
      url?: string;
      /** Hex SHA-256 of the content (64 lower-case hex digits). */
      sha256: string;
      /** Size in bytes. */
      size: number;
    };
  };
  /** Inline custom Jinja chat template (`--custom-jinja-template`), small by nature. */
  custom_chat_template?: string;
  /** End-of-sequence token ids the frontend puts in requests. */
  eos_token_ids?: number[];
  /** Decimal 64-bit id of the worker instance that published the card. */
  instance_id: string;
}

/** A model card as workers write it: {@linkcode ModelCard} with the defaulted fields optional. */
export interface ModelCardInput {
  /** The name clients use for the model. */
  served_model_name: string;
  /** Where tokenizer files come from. */
  model_name: string;
  /** The APIs the model is offered on (at least one). */
  model_type: ("chat" | "completions")[];
  /** Always `"Tokens"`. */
  model_input: "Tokens";
  /** The longest sequence the engine accepts, in tokens. */
  context_length?: number;
  /** Tokens per KV-cache block. */
  kv_cache_block_size?: number;
  /** Blocks in the engine's KV cache. */
  total_kv_blocks?: number;
  /** Scheduling limits of the engine. */
  runtime_config?: ModelCard["runtime_config"];
  /** Times a router may retry a request on another worker. */
  migration_limit?: number;
  /** Tokenizer and template files. */
  files?: ModelCard["files"];
  /** Inline custom Jinja chat template. */
  custom_chat_template?: string;
  /** End-of-sequence token ids. */
  eos_token_ids?: number[];
  /** Decimal 64-bit id of the worker instance. */
  instance_id: string;
}

const modelFile = z.object({
  path: z.string().min(1).optional(),
  url: z.string().url().optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
}).refine((f) => f.path !== undefined || f.url !== undefined, {
  message: "a model file needs a path or a url",
});

const modelFiles = z.object({
  tokenizer: modelFile.optional(),
  tokenizer_config: modelFile.optional(),
  chat_template: modelFile.optional(),
  generation_config: modelFile.optional(),
  gguf: modelFile.optional(),
});

const modelCard = z.object({
  served_model_name: z.string().min(1),
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
  files: modelFiles.default({}),
  custom_chat_template: z.string().optional(),
  eos_token_ids: z.array(z.number().int().nonnegative()).optional(),
  instance_id: z.string().regex(/^[0-9]+$/),
});

/** A file the frontend needs (tokenizer, chat template, generation config). */
export const ModelFileSchema: Schema<NonNullable<ModelCard["files"]["tokenizer"]>> = modelFile;

/** The files of a model card by role (see {@linkcode ModelCard.files}). */
export type ModelFiles = ModelCard["files"];

/** The schema of {@linkcode ModelFiles}. */
export const ModelFilesSchema: Schema<ModelFiles> = modelFiles;

/** The schema of {@linkcode ModelCard}. */
export const ModelCardSchema: Schema<ModelCard> = modelCard;

type _SameFile = Expect<
  IsSameType<ModelCard["files"]["tokenizer"], z.output<typeof modelFile> | undefined>
>;
type _SameOutput = Expect<IsSameType<ModelCard, z.output<typeof modelCard>>>;
type _SameInput = Expect<IsSameType<ModelCardInput, z.input<typeof modelCard>>>;

/** The endpoint record stored under `v1/instances/...`. */
export interface InstanceRecord {
  /** Namespace of the endpoint. */
  namespace: string;
  /** Component of the endpoint. */
  component: string;
  /** Endpoint name. */
  endpoint: string;
  /** Decimal string: 64-bit ids never travel as JSON numbers. */
  instance_id: string;
  /** Where the request plane reaches the endpoint. */
  transport: { inprocess: string } | { nats: string };
  /** Admission limit advertised to routers, when set. */
  max_inflight_requests?: number;
  /**
   * The worker's health canary verdict, published on change: routers MUST NOT route to a
   * worker whose record says `false`. Absent means ready (records from older workers).
   */
  ready?: boolean;
}
