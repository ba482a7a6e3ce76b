/**
 * The engine contract: interfaces, request/chunk/config types and schemas.
 *
 * @module
 */
export type { EngineFactory, EngineSetup, EngineStats, LLMEngine } from "./engine.ts";
export { EngineConfigSchema } from "./engine_config.ts";
export type { EngineConfig } from "./engine_config.ts";
export {
  GenerateRequestSchema,
  MAX_PROMPT_TOKENS,
  parseGenerateRequest,
} from "./generate_request.ts";
export type {
  GenerateRequest,
  GenerateRequestInput,
  GuidedDecoding,
  OutputOptions,
  RoutingHints,
  SamplingOptions,
  StopConditions,
} from "./generate_request.ts";
export { makeUsage, normalizeFinishReason, openAIFinishReason } from "./generate_chunk.ts";
export type { CompletionUsage, FinishReason, GenerateChunk, TopLogprob } from "./generate_chunk.ts";
export { createRequestContext } from "./request_context.ts";
export type {
  CancelMode,
  RequestContext,
  RequestContextController,
  RequestContextOptions,
} from "./request_context.ts";
export { parseWorkerConfig, WorkerConfigSchema } from "./worker_config.ts";
export { invalidArgumentFromZod } from "./zod_error.ts";
export type { InvalidArgumentOptions } from "./zod_error.ts";
export type { WorkerConfig, WorkerConfigInput } from "./worker_config.ts";
export type { Schema, SchemaError, SchemaIssue, SchemaResult } from "./schema.ts";
export { WORKER_FLAGS } from "./engine_args.ts";
export type {
  EngineFlagOption,
  EngineFlagOptions,
  EngineFlagValues,
  ParsedEngineArgs,
} from "./engine_args.ts";
