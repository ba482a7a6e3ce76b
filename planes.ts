/**
 * `sluice/planes`: the three planes a worker and a frontend talk over, their in-process
 * implementations, and how a worker connects them by name: discovery (instances and
 * model cards), the request plane (requests and token streams) and the event plane (KV
 * events, load metrics). Discovery backends by name: `memory`, `file`, `etcd`, `nats`
 * (`discoveryConnectors`; the remote clients load on first use).
 *
 * @example
 * ```ts
 * import { connectPlanes, closePlanes } from "sluice/planes";
 * const planes = await connectPlanes(
 *   { discovery_backend: "memory", request_plane: "inprocess", event_plane: "inprocess" },
 *   () => undefined,
 * );
 * await closePlanes(planes);
 * ```
 *
 * @module
 */
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
export { builtinConnectors, closePlanes, connectPlanes } from "./src/worker/planes.ts";
export {
  DEFAULT_ETCD_ENDPOINTS,
  discoveryBackendName,
  discoveryConnectors,
  discoveryTtlSeconds,
} from "./src/discovery/discovery_connectors.ts";
export type { DiscoveryConnectorOptions, EnvReader } from "./src/discovery/discovery_connectors.ts";
export type { Logger, LogLevelName } from "./src/logging/logger.ts";
export type { PlaneConnectors, Planes } from "./src/worker/planes.ts";
export { parseWorkerConfig, WorkerConfigSchema } from "./src/engine/worker_config.ts";
export type { WorkerConfig, WorkerConfigInput } from "./src/engine/worker_config.ts";
export { AsyncQueue } from "./src/util/async_queue.ts";
// The contract types the planes carry (also exported by `sluice`).
export type { CompletionUsage, FinishReason, GenerateChunk, TopLogprob } from "./mod.ts";
export type { Schema, SchemaError, SchemaIssue, SchemaResult } from "./src/engine/schema.ts";
export {
  KvClearedSchema,
  KvEventDataSchema,
  KvEventSchema,
  KvQuerySchema,
  kvQuerySubject,
  KvRemovedSchema,
  KvSnapshotSchema,
  KvStoredSchema,
  LoadMetricsSchema,
} from "./src/kv/kv_event.ts";
export type {
  KvCleared,
  KvEvent,
  KvEventData,
  KvQuery,
  KvRemoved,
  KvSnapshot,
  KvStored,
  LoadMetrics,
} from "./src/kv/kv_event.ts";
