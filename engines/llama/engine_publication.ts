/**
 * What the llama engine publishes through its {@link EngineServices}: KV events (the block
 * manager reports its prefix cache's stored and removed blocks under the shared chained block
 * hash) and load metrics (rate-limited while requests run, always when the engine goes idle).
 *
 * @module
 */
import type { EngineServices } from "../../src/engine/engine_services.ts";
import { BlockHasher } from "../../src/kv/block_hash.ts";
import { BlockManager } from "./block_manager.ts";
import type { Scheduler } from "./scheduler.ts";

/** Least time between two load-metrics publications while requests run (ms). */
export const LOAD_METRICS_INTERVAL_MS = 100;

/**
 * The engine's block manager: with `services`, its prefix cache MUST publish KV events to
 * `services.kv`; without, it publishes nothing.
 */
export async function createEngineBlockManager(
  numBlocks: number,
  blockSize: number,
  services: EngineServices | undefined,
): Promise<BlockManager> {
  return new BlockManager(
    numBlocks,
    blockSize,
    services && { sink: services.kv, hasher: await BlockHasher.create() },
  );
}

/** Publishes KV usage and request counts as load metrics. */
export class LoadMetricsPublisher {
  readonly #services: EngineServices;
  readonly #blocks: BlockManager;
  readonly #scheduler: Scheduler;
  #last = -Infinity;

  constructor(services: EngineServices, blocks: BlockManager, scheduler: Scheduler) {
    this.#services = services;
    this.#blocks = blocks;
    this.#scheduler = scheduler;
  }

  /**
   * Publishes the load metrics; without `force`, MUST NOT publish within
   * {@link LOAD_METRICS_INTERVAL_MS} of the previous publication.
   */
  publish(force: boolean): void {
    const now = performance.now();
    if (!force && now - this.#last < LOAD_METRICS_INTERVAL_MS) return;
    this.#last = now;
    const blocks = this.#blocks;
    this.#services.publishLoadMetrics({
      kv_used_blocks: blocks.numBlocks - blocks.freeCount(),
      kv_total_blocks: blocks.numBlocks,
      inflight_requests: this.#scheduler.active,
      waiting_requests: this.#scheduler.waiting,
    });
  }
}
