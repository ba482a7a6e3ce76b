/**
 * The worker side of the KV event plane: an {@linkcode EngineServices} handle that
 * numbers an engine's KV events, publishes them and its load metrics on the event
 * plane, and answers routers' resync queries with a snapshot of the cache.
 *
 * @module
 */
import type { EngineServices, KvEventSink } from "../engine/engine_services.ts";
import type { EventPlane } from "../event_plane/event_plane.ts";
import { kvEventsSubject, loadMetricsSubject } from "../event_plane/event_plane.ts";
import type { Logger } from "../logging/logger.ts";
import {
  type KvEvent,
  type KvEventData,
  KvQuerySchema,
  kvQuerySubject,
  type KvSnapshot,
  type LoadMetrics,
} from "./kv_event.ts";

/** Options for {@linkcode createEngineServices}. */
export interface EngineServicesOptions {
  /** The worker's decimal instance id. */
  workerId: string;
  /** Where events go; absent: events are numbered and handed to `onEvent` only. */
  eventPlane?: EventPlane;
  /** Discovery namespace of the subjects (default `dynamo`). */
  namespace?: string;
  /** Component of the subjects (default `backend`). */
  component?: string;
  /** Data-parallel rank stamped on events (default 0). */
  dpRank?: number;
  /** Sees every event as published (tests, local consumers). */
  onEvent?(event: KvEvent): void;
  /** Logs publish failures. */
  logger?: Logger;
}

/** A services handle and the means to stop it. */
export interface EngineServicesHandle {
  /** What the engine receives at `start`. */
  readonly services: EngineServices;
  /** Id of the last event published (0 before the first). */
  readonly lastEventId: number;
  /** Stops answering queries and publishing. Idempotent. */
  close(): Promise<void>;
}

/**
 * Creates the services handle a worker passes to `engine.start`. Publishing never blocks
 * the engine and never throws: a failed publish is logged (a router that misses it sees a
 * gap in event ids and resyncs).
 *
 * @example
 * ```ts
 * import { createEngineServices } from "./kv_publisher.ts";
 * const seen: unknown[] = [];
 * const handle = createEngineServices({ workerId: "7", onEvent: (e) => seen.push(e) });
 * handle.services.kv.cleared();
 * console.assert(handle.lastEventId === 1 && seen.length === 1);
 * await handle.close();
 * ```
 */
export function createEngineServices(options: EngineServicesOptions): EngineServicesHandle {
  const ns = options.namespace ?? "dynamo";
  const component = options.component ?? "backend";
  const plane = options.eventPlane;
  const eventsSubject = kvEventsSubject(ns, component);
  const metricsSubject = loadMetricsSubject(ns, component);
  let lastEventId = 0;
  let closed = false;
  let provider: () => readonly string[] = () => [];
  const send = (subject: string, message: unknown) => {
    if (plane === undefined || closed) return;
    plane.publish(subject, message).catch((error) =>
      options.logger?.warn("cannot publish on the event plane", {
        subject,
        error: String(error),
      })
    );
  };
  const emit = (data: KvEventData) => {
    if (closed) return;
    const event: KvEvent = {
      event_id: ++lastEventId,
      worker_id: options.workerId,
      dp_rank: options.dpRank ?? 0,
      data,
    };
    options.onEvent?.(event);
    send(eventsSubject, event);
  };
  const kv: KvEventSink = {
    stored(parentHash, blocks) {
      if (blocks.length > 0) {
        emit({ type: "stored", parent_hash: parentHash, blocks: blocks.map((b) => ({ ...b })) });
      }
    },
    removed(blockHashes) {
      if (blockHashes.length > 0) emit({ type: "removed", block_hashes: [...blockHashes] });
    },
    cleared: () => emit({ type: "cleared" }),
    setSnapshotProvider(fn) {
      provider = fn;
    },
  };
  const services: EngineServices = {
    workerId: options.workerId,
    kv,
    publishLoadMetrics(metrics) {
      const message: LoadMetrics = { ...metrics, worker_id: options.workerId };
      send(metricsSubject, message);
    },
  };
  const subscription = plane?.subscribe(kvQuerySubject(ns, component));
  const answering = subscription === undefined ? Promise.resolve() : (async () => {
    try {
      for await (const raw of subscription) {
        const query = KvQuerySchema.safeParse(raw);
        if (!query.success || query.data.worker_id !== options.workerId) continue;
        // Snapshot and event id are read in the same synchronous step: consistent.
        const snapshot: KvSnapshot = {
          worker_id: options.workerId,
          last_event_id: lastEventId,
          block_hashes: [...provider()],
        };
        send(query.data.reply_subject, snapshot);
      }
    } catch (error) {
      if (!closed) options.logger?.warn("KV query subscription failed", { error: String(error) });
    }
  })();
  return {
    services,
    get lastEventId() {
      return lastEventId;
    },
    async close() {
      if (closed) return;
      closed = true;
      await subscription?.close();
      await answering;
    },
  };
}
