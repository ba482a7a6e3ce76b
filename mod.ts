/**
 * Sluice: serve token-streaming inference engines from TypeScript.
 *
 * Write an engine whose `generate()` is an async iterable, check it with
 * {@linkcode runConformance}, and serve it with {@linkcode run} (a worker
 * process) or {@linkcode createWorker} (embedded).
 *
 * @example
 * ```ts ignore
 * import { run } from "./mod.ts";
 * import { SampleEngine } from "./engines/sample/mod.ts";
 * await run(SampleEngine, ["--delay-ms", "5"]);
 * ```
 *
 * @module
 */
export * from "./src/engine/mod.ts";
export {
  ErrorKind,
  httpStatusFor,
  isSluiceError,
  SluiceError,
  toSluiceError,
} from "./src/errors/sluice_error.ts";
export type { SerializedError, SluiceErrorOptions } from "./src/errors/sluice_error.ts";
export {
  intFlag,
  parseEngineArgs,
  parseJsonObject,
  workerConfigFromFlags,
} from "./src/engine/engine_args.ts";
export { createStreamGuard } from "./src/stream/stream_guard.ts";
export type { StreamGuard } from "./src/stream/stream_guard.ts";
export { ChunkGuard } from "./src/stream/chunk_guard.ts";
export type { ChunkGuardOptions, StreamStats } from "./src/stream/chunk_guard.ts";
export { engineStream } from "./src/stream/engine_stream.ts";
export type { EngineStreamEnd, EngineStreamOptions } from "./src/stream/engine_stream.ts";
export {
  discoveryKey,
  DiscoveryPrefix,
  instanceHex,
  newInstanceId,
} from "./src/discovery/discovery.ts";
export type {
  Discovery,
  DiscoveryEntry,
  DiscoveryEvent,
  DiscoveryWatch,
  EndpointPath,
  WatchOptions,
} from "./src/discovery/discovery.ts";
export { MemoryDiscovery, MemoryDiscoveryStore } from "./src/discovery/memory_discovery.ts";
export { endpointSubject } from "./src/request_plane/request_plane.ts";
export type {
  CallOptions,
  CancelReason,
  IncomingRequest,
  RequestHandler,
  RequestPlane,
  ResponseStream,
  ServedEndpoint,
  TransportAddress,
} from "./src/request_plane/request_plane.ts";
export { InProcessRequestPlane } from "./src/request_plane/in_process_request_plane.ts";
export {
  kvEventsSubject,
  loadMetricsSubject,
  subjectMatches,
} from "./src/event_plane/event_plane.ts";
export type { EventPlane, SubscribeOptions, Subscription } from "./src/event_plane/event_plane.ts";
export {
  InProcessEventBus,
  InProcessEventPlane,
} from "./src/event_plane/in_process_event_plane.ts";
export { ModelCardSchema, ModelFileSchema } from "./src/model_card/model_card.ts";
export type { InstanceRecord, ModelCard, ModelCardInput } from "./src/model_card/model_card.ts";
export {
  DEFAULT_BUCKETS,
  MetricsRegistry,
  TOKEN_LATENCY_BUCKETS,
} from "./src/metrics/metrics_registry.ts";
export type { Labels } from "./src/metrics/metrics_registry.ts";
export { createLogger, parseLogLevel } from "./src/logging/logger.ts";
export type { Logger, LogLevelName } from "./src/logging/logger.ts";
export { AsyncQueue } from "./src/util/async_queue.ts";
export { createWorker, SHUTDOWN_DEADLINE_EXIT, workerTimingsFromEnv } from "./src/worker/worker.ts";
export type { Worker, WorkerOptions, WorkerState, WorkerTimings } from "./src/worker/worker.ts";
export { run } from "./src/worker/run.ts";
export type { RunOptions } from "./src/worker/run.ts";
export { builtinConnectors, closePlanes, connectPlanes } from "./src/worker/planes.ts";
export type { PlaneConnectors, Planes } from "./src/worker/planes.ts";
export { currentRuntime } from "./src/runtime/runtime.ts";
export type { Runtime, SignalName } from "./src/runtime/runtime.ts";
export * from "./src/conformance/mod.ts";
export * from "./src/frontend/mod.ts";
export * from "./src/router/mod.ts";
export * from "./src/serve/mod.ts";
export * from "./src/edge/mod.ts";
export * from "./src/tokenizer/mod.ts";
export * from "./src/chat_template/mod.ts";
/** The WebGPU accelerator layer (kernels, compile cache, backends), as one namespace. */
export * as gpu from "./src/gpu/mod.ts";
export * from "./src/kv/mod.ts";
