/**
 * `sluice/serve`: hosting engines. {@linkcode serveEngine} serves an engine class over
 * HTTP in one call (the embedded default: OpenAI frontend, workers and engine in this
 * process); `createEmbeddedServer` / `createEmbeddedStack` are the same with every option;
 * `createEdgeHandler` is the `{ fetch }` form for serverless hosts; `createWorker` embeds a
 * single worker on planes you bring; `serveFrontend` is `sluice frontend` (the HTTP frontend
 * alone, routing to workers over the distributed planes).
 *
 * @example
 * ```ts ignore
 * import { serveEngine } from "sluice/serve";
 * import { EchoEngine } from "./my_engine.ts";
 * await serveEngine(EchoEngine, ["--delay-ms", "0"], { port: 8000 });
 * ```
 *
 * @module
 */
export { serveEngine } from "../serve/serve_engine.ts";
export type { ServeEngineOptions } from "../serve/serve_engine.ts";
export { serveFrontend } from "../serve/serve_frontend.ts";
export type { ServeFrontendOptions } from "../serve/serve_frontend.ts";
export * from "../serve/mod.ts";
export * from "../edge/mod.ts";
export { createWorker, SHUTDOWN_DEADLINE_EXIT, workerTimingsFromEnv } from "../worker/worker.ts";
export type { Worker, WorkerOptions, WorkerState, WorkerTimings } from "../worker/worker.ts";
export {
  DEFAULT_BUCKETS,
  MetricsRegistry,
  TOKEN_LATENCY_BUCKETS,
} from "../metrics/metrics_registry.ts";
export type { Labels } from "../metrics/metrics_registry.ts";
export { createLogger, parseLogLevel } from "../logging/logger.ts";
export type { Logger, LogLevelName } from "../logging/logger.ts";
export { currentRuntime } from "../runtime/runtime.ts";
export type { Runtime, SignalName } from "../runtime/runtime.ts";
export { run as runWorker } from "../worker/run.ts";
export type { RunOptions } from "../worker/run.ts";
export type { HttpServer } from "../runtime/http_server.ts";
export type { Frontend, FrontendOptions } from "../frontend/frontend_app.ts";
export type { ModelResourceLoader, ModelResources, ModelResourceSource } from "./frontend.ts";
// The contract and plane types these APIs take (also exported by `sluice` and `sluice/planes`).
export type { EngineFactory, EngineSetup, LLMEngine } from "../engine/engine.ts";
export type { EngineConfig } from "../engine/engine_config.ts";
export type { WorkerConfig, WorkerConfigInput } from "../engine/worker_config.ts";
export type {
  CallOptions,
  Discovery,
  DiscoveryEntry,
  DiscoveryEvent,
  DiscoveryWatch,
  EndpointPath,
  EventPlane,
  IncomingRequest,
  InstanceRecord,
  ModelCard,
  ModelCardInput,
  PlaneConnectors,
  Planes,
  RequestHandler,
  RequestPlane,
  ResponseStream,
  ServedEndpoint,
  SubscribeOptions,
  Subscription,
  TransportAddress,
  WatchOptions,
} from "./planes.ts";
export type {
  RoutableWorker,
  RoutedStream,
  RouteOptions,
  RouteRequest,
  RoutingPolicy,
  RoutingTable,
  WorkerRouter,
  WorkerSlot,
} from "./frontend.ts";
export type {
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
} from "../../mod.ts";
export type {
  ChatContentPart,
  ChatMessage,
  ChatRole,
  ChatTemplate,
  ChatTemplateRenderOptions,
  ChatToolCall,
  DecodeOptions,
  EncodeOptions,
  IncrementalDecoder,
  Tokenizer,
} from "./frontend.ts";
export { createEngineServices } from "../kv/kv_publisher.ts";
export type { EngineServicesHandle, EngineServicesOptions } from "../kv/kv_publisher.ts";
export type {
  BlockHashes,
  EngineServices,
  KvEventData,
  KvEventSink,
  LoadMetrics,
} from "../../mod.ts";
export type { KvEvent } from "./planes.ts";
export type { KvCleared, KvRemoved, KvStored } from "../../mod.ts";
export type { EngineStats, ModelFiles } from "../../mod.ts";
