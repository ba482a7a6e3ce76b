/**
 * KV-cache events and KV-aware routing: the shared block hash, the event schemas, the
 * engine services handle engines publish through, the router's index and its feed, and
 * the `kv` routing policy.
 *
 * @module
 */
export { BlockHasher, KV_HASH_SEED } from "./block_hash.ts";
export type { BlockHashes } from "./block_hash.ts";
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
} from "./kv_event.ts";
export type { KvEvent, KvEventData, KvQuery, KvSnapshot, LoadMetrics } from "./kv_event.ts";
export { KvIndexer } from "./kv_indexer.ts";
export type { ApplyResult, KvIndexerOptions } from "./kv_indexer.ts";
export { KvIndexFeed } from "./kv_index_feed.ts";
export type { KvIndexFeedOptions } from "./kv_index_feed.ts";
export { createEngineServices } from "./kv_publisher.ts";
export type { EngineServicesHandle, EngineServicesOptions } from "./kv_publisher.ts";
export type { EngineServices, KvEventSink } from "../engine/engine_services.ts";
export { KvRoutingPolicy } from "../router/kv_policy.ts";
export type { KvDecision, KvRoutingPolicyOptions } from "../router/kv_policy.ts";
export { createKvRouting } from "../router/kv_routing.ts";
export type { KvRouting, KvRoutingOptions } from "../router/kv_routing.ts";
