/**
 * KV events and load metrics, as workers publish them on the event plane
 * (`{ns}.{component}.kv-events`, `{ns}.{component}.load-metrics`), and the resync
 * query a router sends after it detects a gap in a worker's event ids.
 *
 * Every message is validated with zod where it enters a router: the event plane is an
 * external input (another process over NATS). The documented interfaces are checked at
 * compile time against the schemas' shapes.
 *
 * @module
 */
import { z } from "zod";
import type { Expect, IsSameType, Schema } from "../engine/schema.ts";

const hash = z.string().regex(/^[0-9a-f]{16}$/, "expected a 64-bit hash as 16 hex digits");
const workerId = z.string().regex(/^[0-9]+$/, "expected a decimal instance id");

/** Blocks became cached on a worker: full blocks, chained from `parent_hash` (null at the root). */
export interface KvStored {
  /** The event type. */
  type: "stored";
  /** Hash of the block before the first one (16 hex digits), or null at the sequence start. */
  parent_hash: string | null;
  /** The blocks, in order: each one's chained hash and the hash of its tokens alone. */
  blocks: { block_hash: string; tokens_hash: string }[];
}

/** Blocks left a worker's cache (evicted). */
export interface KvRemoved {
  /** The event type. */
  type: "removed";
  /** The evicted blocks' hashes. */
  block_hashes: string[];
}

/** A worker dropped its whole cache. */
export interface KvCleared {
  /** The event type. */
  type: "cleared";
}

/** The payload of a KV event: `stored`, `removed` or `cleared`. */
export type KvEventData = KvStored | KvRemoved | KvCleared;

/**
 * One KV event. `event_id` counts from 1 per worker with no holes, so a consumer that
 * sees a jump knows it missed events and MUST resync before trusting its view.
 */
export interface KvEvent {
  /** Per-worker sequence number, from 1, without holes. */
  event_id: number;
  /** The publishing worker's decimal instance id. */
  worker_id: string;
  /** Data-parallel rank. */
  dp_rank: number;
  /** What changed. */
  data: KvEventData;
}

/** A worker's load, published at a modest rate beside its KV events. */
export interface LoadMetrics {
  /** The worker's decimal instance id. */
  worker_id: string;
  /** KV blocks in use. */
  kv_used_blocks: number;
  /** KV blocks in all. */
  kv_total_blocks: number;
  /** Requests being generated. */
  inflight_requests: number;
  /** Requests admitted but waiting to be scheduled. */
  waiting_requests: number;
}

/** A router's request for a worker's current cached blocks (after a gap). */
export interface KvQuery {
  /** The worker asked. */
  worker_id: string;
  /** Subject the worker publishes its {@linkcode KvSnapshot} on. */
  reply_subject: string;
}

/**
 * A worker's whole cache at one point of its event stream: every cached block, and the
 * id of the last event published before it. Events with larger ids come after it.
 */
export interface KvSnapshot {
  /** The worker answering. */
  worker_id: string;
  /** The id of the last event published before the snapshot. */
  last_event_id: number;
  /** Every cached block's hash. */
  block_hashes: string[];
}

const kvStored = z.object({
  type: z.literal("stored"),
  parent_hash: hash.nullable(),
  blocks: z.array(z.object({ block_hash: hash, tokens_hash: hash })).min(1),
});
const kvRemoved = z.object({
  type: z.literal("removed"),
  block_hashes: z.array(hash).min(1),
});
const kvCleared = z.object({ type: z.literal("cleared") });
const kvEventData = z.discriminatedUnion("type", [kvStored, kvRemoved, kvCleared]);
const kvEvent = z.object({
  event_id: z.number().int().positive(),
  worker_id: workerId,
  dp_rank: z.number().int().nonnegative(),
  data: kvEventData,
});
const loadMetrics = z.object({
  worker_id: workerId,
  kv_used_blocks: z.number().int().nonnegative(),
  kv_total_blocks: z.number().int().nonnegative(),
  inflight_requests: z.number().int().nonnegative(),
  waiting_requests: z.number().int().nonnegative(),
});
const kvQuery = z.object({ worker_id: workerId, reply_subject: z.string().min(1) });
const kvSnapshot = z.object({
  worker_id: workerId,
  last_event_id: z.number().int().nonnegative(),
  block_hashes: z.array(hash),
});

/** The schema of {@linkcode KvStored} (at least one block; hashes are 16 hex digits). */
export const KvStoredSchema: Schema<KvStored> = kvStored;
/** The schema of {@linkcode KvRemoved} (at least one hash). */
export const KvRemovedSchema: Schema<KvRemoved> = kvRemoved;
/** The schema of {@linkcode KvCleared}. */
export const KvClearedSchema: Schema<KvCleared> = kvCleared;
/** The schema of {@linkcode KvEventData}. */
export const KvEventDataSchema: Schema<KvEventData> = kvEventData;
/** The schema of {@linkcode KvEvent}. */
export const KvEventSchema: Schema<KvEvent> = kvEvent;
/** The schema of {@linkcode LoadMetrics}. */
export const LoadMetricsSchema: Schema<LoadMetrics> = loadMetrics;
/** The schema of {@linkcode KvQuery}. */
export const KvQuerySchema: Schema<KvQuery> = kvQuery;
/** The schema of {@linkcode KvSnapshot}. */
export const KvSnapshotSchema: Schema<KvSnapshot> = kvSnapshot;

type _SameShapes = [
  Expect<IsSameType<KvStored, z.output<typeof kvStored>>>,
  Expect<IsSameType<KvRemoved, z.output<typeof kvRemoved>>>,
  Expect<IsSameType<KvCleared, z.output<typeof kvCleared>>>,
  Expect<IsSameType<KvEvent, z.output<typeof kvEvent>>>,
  Expect<IsSameType<LoadMetrics, z.output<typeof loadMetrics>>>,
  Expect<IsSameType<KvQuery, z.output<typeof kvQuery>>>,
  Expect<IsSameType<KvSnapshot, z.output<typeof kvSnapshot>>>,
];

/** The resync-query subject of a component: `{ns}.{component}.kv-query`. */
export function kvQuerySubject(namespace: string, component: string): string {
  return `${namespace}.${component}.kv-query`;
}
