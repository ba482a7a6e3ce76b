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
} from "../discovery/discovery.ts";
export type {
  Discovery,
  DiscoveryEntry,
  DiscoveryEvent,
  DiscoveryWatch,
  EndpointPath,
  WatchOptions,
} from "../discovery/discovery.ts";
export { MemoryDiscovery, MemoryDiscoveryStore } from "../discovery/memory_discovery.ts";
export { endpointSubject } from "../request_plane/request_plane.ts";
export type {
  CallOptions,
  CancelReason,
  IncomingRequest,
  RequestHandler,
  RequestPlane,
  ResponseStream,
  ServedEndpoint,
  TransportAddress,
} from "../request_plane/request_plane.ts";
export { InProcessRequestPlane } from "../request_plane/in_process_request_plane.ts";
export { kvEventsSubject, loadMetricsSubject, subjectMatches } from "../event_plane/event_plane.ts";
export type { EventPlane, SubscribeOptions, Subscription } from "../event_plane/event_plane.ts";
export { InProcessEventBus, InProcessEventPlane } from "../event_plane/in_process_event_plane.ts";
export { ModelCardSchema, ModelFileSchema } from "../model_card/model_card.ts";
export type { InstanceRecord, ModelCard, ModelCardInput } from "../model_card/model_card.ts";
export { builtinConnectors, closePlanes, connectPlanes } from "../worker/planes.ts";
export {
  DEFAULT_ETCD_ENDPOINTS,
  discoveryBackendName,
  discoveryConnectors,
  discoveryTtlSeconds,
} from "../discovery/discovery_connectors.ts";
export type { DiscoveryConnectorOptions, EnvReader } from "../discovery/discovery_connectors.ts";
export type { Logger, LogLevelName } from "../logging/logger.ts";
export type { PlaneConnectors, Planes } from "../worker/planes.ts";
export { parseWorkerConfig, WorkerConfigSchema } from "../engine/worker_config.ts";
export type { WorkerConfig, WorkerConfigInput } from "../engine/worker_config.ts";
export { AsyncQueue } from "../util/async_queue.ts";
// The contract types the planes carry (also exported by `sluice`).
export type { CompletionUsage, FinishReason, GenerateChunk, TopLogprob } from "../../mod.ts";
export type { Schema, SchemaError, SchemaIssue, SchemaResult } from "../engine/schema.ts";
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
} from "../kv/kv_event.ts";
export type {
  KvCleared,
  KvEvent,
  KvEventData,
  KvQuery,
  KvRemoved,
  KvSnapshot,
  KvStored,
  LoadMetrics,
} from "../kv/kv_event.ts";
