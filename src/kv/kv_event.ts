/**
 * KV events and load metrics, as workers publish them on the event plane
 * (`{ns}.{component}.kv-events`, `{ns}.{component}.load-metrics`), and the resync
 * query a router sends after it detects a gap in a worker's event ids.
 *
 * Every message is validated with zod where it enters a router: the event plane is an
 * external input (another process over NATS).
 *
 * @module
 */
import { z } from "zod";

const hash = z.string().regex(/^[0-9a-f]{16}$/, "expected a 64-bit hash as 16 hex digits");
const workerId = z.string().regex(/^[0-9]+$/, "expected a decimal instance id");

/** Blocks became cached on a worker: full blocks, chained from `parent_hash` (null at the root). */
export const KvStoredSchema = z.object({
  type: z.literal("stored"),
  parent_hash: hash.nullable(),
  blocks: z.array(z.object({ block_hash: hash, tokens_hash: hash })).min(1),
});

/** Blocks left a worker's cache (evicted). */
export const KvRemovedSchema = z.object({
  type: z.literal("removed"),
  block_hashes: z.array(hash).min(1),
});

/** A worker dropped its whole cache. */
export const KvClearedSchema = z.object({ type: z.literal("cleared") });

/** The payload of a KV event. */
export const KvEventDataSchema = z.discriminatedUnion("type", [
  KvStoredSchema,
  KvRemovedSchema,
  KvClearedSchema,
]);
/** The payload of a KV event: `stored`, `removed` or `cleared`. */
export type KvEventData = z.infer<typeof KvEventDataSchema>;

/**
 * One KV event. `event_id` counts from 1 per worker with no holes, so a consumer that
 * sees a jump knows it missed events and MUST resync before trusting its view.
 */
export const KvEventSchema = z.object({
  event_id: z.number().int().positive(),
  worker_id: workerId,
  dp_rank: z.number().int().nonnegative(),
  data: KvEventDataSchema,
});
/** One KV event. */
export type KvEvent = z.infer<typeof KvEventSchema>;

/** A worker's load, published at a modest rate beside its KV events. */
export const LoadMetricsSchema = z.object({
  worker_id: workerId,
  kv_used_blocks: z.number().int().nonnegative(),
  kv_total_blocks: z.number().int().nonnegative(),
  inflight_requests: z.number().int().nonnegative(),
  waiting_requests: z.number().int().nonnegative(),
});
/** A worker's load. */
export type LoadMetrics = z.infer<typeof LoadMetricsSchema>;

/** A router's request for a worker's current cached blocks (after a gap). */
export const KvQuerySchema = z.object({
  worker_id: workerId,
  /** Subject the worker publishes its {@linkcode KvSnapshot} on. */
  reply_subject: z.string().min(1),
});
/** A resync query. */
export type KvQuery = z.infer<typeof KvQuerySchema>;

/**
 * A worker's whole cache at one point of its event stream: every cached block, and the
 * id of the last event published before it. Events with larger ids come after it.
 */
export const KvSnapshotSchema = z.object({
  worker_id: workerId,
  last_event_id: z.number().int().nonnegative(),
  block_hashes: z.array(hash),
});
/** A resync answer. */
export type KvSnapshot = z.infer<typeof KvSnapshotSchema>;

/** The resync-query subject of a component: `{ns}.{component}.kv-query`. */
export function kvQuerySubject(namespace: string, component: string): string {
  return `${namespace}.${component}.kv-query`;
}
