/**
 * `sluice/testing`: harnesses for engine authors and plane implementers. The conformance
 * kit (`runConformance` runs Dynamo's engine checks and a real in-process worker against
 * an engine class), the stream guard that enforces the chunk contract, and the pieces to
 * drive an engine directly (`createRequestContext`, `parseGenerateRequest`).
 *
 * @example
 * ```ts ignore
 * import { runConformance } from "sluice/testing";
 * import { EchoEngine } from "./my_engine.ts";
 * await runConformance(EchoEngine); // throws ConformanceError naming the first failed check
 * ```
 *
 * @module
 */
export { runConformance } from "../conformance/run_conformance.ts";
export { consumeChecked } from "../conformance/consume_checked.ts";
export type { ConformanceOptions, ConformanceReport } from "../conformance/run_conformance.ts";
export { ConformanceError, ConformanceFailure } from "../conformance/conformance_error.ts";
export { createStreamGuard } from "../stream/stream_guard.ts";
export type { StreamGuard } from "../stream/stream_guard.ts";
export { ChunkGuard } from "../stream/chunk_guard.ts";
export type { ChunkGuardOptions, StreamStats } from "../stream/chunk_guard.ts";
export { engineStream } from "../stream/engine_stream.ts";
export type { EngineStreamEnd, EngineStreamOptions } from "../stream/engine_stream.ts";
export { createRequestContext } from "../engine/request_context.ts";
export type { RequestContextController, RequestContextOptions } from "../engine/request_context.ts";
export {
  GenerateRequestSchema,
  MAX_PROMPT_TOKENS,
  parseGenerateRequest,
} from "../engine/generate_request.ts";
export { EngineConfigSchema } from "../engine/engine_config.ts";
export { normalizeFinishReason, openAIFinishReason } from "../engine/generate_chunk.ts";
export type { Schema, SchemaError, SchemaIssue, SchemaResult } from "../engine/schema.ts";
// The contract types the harnesses take and return (also exported by `sluice`).
export type { EngineFactory, EngineSetup, LLMEngine } from "../engine/engine.ts";
export type { EngineConfig } from "../engine/engine_config.ts";
export type {
  CancelMode,
  CompletionUsage,
  ErrorCode,
  ErrorKind,
  FinishReason,
  GenerateChunk,
  GenerateRequest,
  GenerateRequestInput,
  GuidedDecoding,
  OutputOptions,
  RequestContext,
  RoutingHints,
  SamplingOptions,
  SerializedError,
  SluiceError,
  StopConditions,
  TopLogprob,
  WorkerConfigInput,
} from "../../mod.ts";
export type {
  BlockHashes,
  EngineServices,
  KvEventData,
  KvEventSink,
  LoadMetrics,
} from "../../mod.ts";
export type { KvCleared, KvRemoved, KvStored } from "../../mod.ts";
export type { EngineStats, ModelCard, ModelFiles } from "../../mod.ts";
