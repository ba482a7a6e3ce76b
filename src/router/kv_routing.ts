/**
 * Wires KV-aware routing into a frontend: a {@linkcode KvIndexFeed} on the event plane,
 * the {@linkcode KvRoutingPolicy} over its index, and departure handling (a worker that
 * leaves the routing table leaves the index).
 *
 * @module
 */
import type { EventPlane } from "../event_plane/event_plane.ts";
import { BlockHasher } from "../kv/block_hash.ts";
import { KvIndexFeed } from "../kv/kv_index_feed.ts";
import type { Logger } from "../logging/logger.ts";
import { KvRoutingPolicy } from "./kv_policy.ts";
import type { RoutingTable } from "./routing_table.ts";

/** Options for {@linkcode createKvRouting}. */
export interface KvRoutingOptions {
  /** The event plane the workers publish KV events on. */
  eventPlane: EventPlane;
  /** The workers by model (their departures leave the index). */
  table: RoutingTable;
  /** `--kv-overlap-score-weight` (default 1.0). */
  overlapScoreWeight?: number;
  /** `--router-temperature` (default 0). */
  temperature?: number;
  /** Logs the feed's gaps and resyncs. */
  logger?: Logger;
}

/** A running KV routing setup. */
export interface KvRouting {
  /** The routing policy to give the router. */
  readonly policy: KvRoutingPolicy;
  /** The feed that keeps the policy's index current. */
  readonly feed: KvIndexFeed;
  /** Stops the feed and the departure watch. Idempotent. */
  close(): Promise<void>;
}

/** Starts the feed and builds the policy. */
export async function createKvRouting(options: KvRoutingOptions): Promise<KvRouting> {
  const { table } = options;
  const hasher = await BlockHasher.create();
  const feed = KvIndexFeed.start({
    eventPlane: options.eventPlane,
    logger: options.logger,
    locate(workerId) {
      const slot = table.allWorkers().find((w) => w.instanceId === workerId);
      return slot === undefined
        ? undefined
        : { namespace: slot.record.namespace, component: slot.record.component };
    },
  });
  const policy = new KvRoutingPolicy({
    indexer: feed.indexer,
    hasher,
    overlapScoreWeight: options.overlapScoreWeight,
    temperature: options.temperature,
  });
  const onChange = () => {
    const present = new Set(table.allWorkers().map((w) => w.instanceId));
    for (const id of feed.indexer.workers()) if (!present.has(id)) feed.removeWorker(id);
  };
  const unsubscribe = table.subscribe(onChange);
  let closed: Promise<void> | undefined;
  return {
    policy,
    feed,
    close: () => (closed ??= (async () => {
      unsubscribe();
      await feed.close();
    })()),
  };
}
