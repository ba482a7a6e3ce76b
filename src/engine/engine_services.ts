/**
 * Engine services: what the runtime offers an engine at `start(workerId, services)`,
 * so that engines publish KV events and load metrics without importing a plane. The
 * worker wires the handle to its event plane; an engine that ignores it works unchanged.
 *
 * @module
 */
import type { BlockHashes } from "../kv/block_hash.ts";
import type { LoadMetrics } from "../kv/kv_event.ts";

/**
 * Publishes one worker's KV-cache events. Event ids are assigned here, sequentially per
 * worker, in call order. Calls MUST reflect the cache as it changes (a block is reported
 * stored once when it becomes reusable, removed once when it is evicted).
 */
export interface KvEventSink {
  /** Full blocks became cached, chained from `parentHash` (`null`: from the sequence start). */
  stored(parentHash: string | null, blocks: readonly BlockHashes[]): void;
  /** Blocks were evicted. */
  removed(blockHashes: readonly string[]): void;
  /** The whole cache was dropped. */
  cleared(): void;
  /**
   * Registers the function that lists every cached block hash, called synchronously when a
   * router asks to resync after a gap. It MUST return exactly the blocks the events published
   * so far describe.
   */
  setSnapshotProvider(provider: () => readonly string[]): void;
}

/** What an engine receives at `start`. Every method is cheap and never throws. */
export interface EngineServices {
  /** The worker's decimal instance id (the `workerId` of `start`). */
  readonly workerId: string;
  /** KV events of this worker. */
  readonly kv: KvEventSink;
  /** Publishes the worker's load (the runtime adds `worker_id`); call at a modest rate. */
  publishLoadMetrics(metrics: Omit<LoadMetrics, "worker_id">): void;
}
