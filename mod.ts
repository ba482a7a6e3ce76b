/**
 * Sluice for engine authors: the engine contract, its flag helpers, typed errors, and
 * {@linkcode run} (an engine as a worker process).
 *
 * Write an engine whose `generate()` is an async iterable of token chunks, check it with
 * `runConformance` from `sluice/testing`, serve it over HTTP with `serveEngine` from
 * `sluice/serve` (or `sluice serve --engine ./my_engine.ts`), or run it as a worker with
 * {@linkcode run}. Everything else lives in sub-path entries by audience: `sluice/planes`
 * (discovery, request and event planes), `sluice/frontend` (OpenAI frontend, router,
 * tokenizers, chat templates), `sluice/serve` (embedding: workers, the embedded server,
 * the edge handler), `sluice/gpu` (WebGPU kernels) and `sluice/testing` (conformance kit).
 *
 * @example
 * ```ts ignore
 * import { run } from "sluice";
 * import { SampleEngine } from "sluice/engines/sample";
 * await run(SampleEngine, ["--delay-ms", "5"]);
 * ```
 *
 * @module
 */
export type { EngineFactory, EngineSetup, EngineStats, LLMEngine } from "./src/engine/engine.ts";
export type { EngineConfig } from "./src/engine/engine_config.ts";
export type {
  GenerateRequest,
  GenerateRequestInput,
  GuidedDecoding,
  OutputOptions,
  RoutingHints,
  SamplingOptions,
  StopConditions,
} from "./src/engine/generate_request.ts";
export { makeUsage } from "./src/engine/generate_chunk.ts";
export type {
  CompletionUsage,
  FinishReason,
  GenerateChunk,
  TopLogprob,
} from "./src/engine/generate_chunk.ts";
export type { CancelMode, RequestContext } from "./src/engine/request_context.ts";
export type { WorkerConfig, WorkerConfigInput } from "./src/engine/worker_config.ts";
export {
  intFlag,
  parseEngineArgs,
  parseJsonObject,
  WORKER_FLAGS,
  workerConfigFromFlags,
} from "./src/engine/engine_args.ts";
export type {
  EngineFlagOption,
  EngineFlagOptions,
  EngineFlagValues,
  ParsedEngineArgs,
} from "./src/engine/engine_args.ts";
export {
  ErrorCode,
  ErrorKind,
  isSluiceError,
  SluiceError,
  toSluiceError,
} from "./src/errors/sluice_error.ts";
export type { SerializedError, SluiceErrorOptions } from "./src/errors/sluice_error.ts";
export { run } from "./src/worker/run_engine.ts";
export type { EngineServices, KvEventSink } from "./src/engine/engine_services.ts";
export { BlockHasher, KV_HASH_SEED } from "./src/kv/block_hash.ts";
export type { BlockHashes } from "./src/kv/block_hash.ts";
export type {
  KvCleared,
  KvEventData,
  KvRemoved,
  KvStored,
  LoadMetrics,
} from "./src/kv/kv_event.ts";
export type { ModelCard, ModelFiles } from "./src/model_card/model_card.ts";
