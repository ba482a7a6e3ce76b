/**
 * Feeds a {@linkcode KvIndexer} from the event plane: subscribes to every component's
 * KV events and load metrics, validates them, and resyncs a worker after a gap in its
 * event ids by asking it for a snapshot (a query on `{ns}.{component}.kv-query`, answered
 * on a reply subject of this feed). Works over any {@linkcode EventPlane}.
 *
 * @module
 */
import type { EventPlane, Subscription } from "../event_plane/event_plane.ts";
import type { Logger } from "../logging/logger.ts";
import { KvIndexer } from "./kv_indexer.ts";
import {
  KvEventSchema,
  type KvQuery,
  kvQuerySubject,
  KvSnapshotSchema,
  type LoadMetrics,
  LoadMetricsSchema,
} from "./kv_event.ts";

/** Options for {@linkcode KvIndexFeed.start}. */
export interface KvIndexFeedOptions {
  /** The event plane the workers publish KV events and load metrics on. */
  eventPlane: EventPlane;
  /** The index to feed (a new one when absent). */
  indexer?: KvIndexer;
  /** Where a worker answers queries; default `dynamo` / `backend`. */
  locate?(workerId: string): { namespace: string; component: string } | undefined;
  /** How long to wait for a snapshot before asking again (default 2000 ms). */
  resyncTimeoutMs?: number;
  /** Logs gaps, resyncs and invalid events. */
  logger?: Logger;
}

/** A running feed. */
export class KvIndexFeed {
  /** The index the feed keeps current. */
  readonly indexer: KvIndexer;
  /** Latest load metrics per worker id. */
  readonly load: Map<string, LoadMetrics> = new Map();
  /** Resync queries sent (for metrics and tests). */
  resyncs = 0;
  #options: KvIndexFeedOptions;
  #subs = new Set<Subscription>();
  #loops: Promise<void>[] = [];
  #timers = new Map<string, ReturnType<typeof setTimeout>>();
  #replySubject = `_sluice.kv-snapshot.${crypto.randomUUID().replaceAll("-", "")}`;
  #closed = false;

  private constructor(options: KvIndexFeedOptions) {
    this.#options = options;
    this.indexer = options.indexer ?? new KvIndexer();
  }

  /** Subscribes and starts feeding; events published before this call are not seen. */
  static start(options: KvIndexFeedOptions): KvIndexFeed {
    const feed = new KvIndexFeed(options);
    const plane = options.eventPlane;
    feed.#consume(
      () => plane.subscribe("*.*.kv-events", { highWaterMark: 65536 }),
      (raw) => {
        const parsed = KvEventSchema.safeParse(raw);
        if (!parsed.success) return feed.#invalid("KV event", parsed.error.message);
        if (feed.indexer.applyEvent(parsed.data) === "gap") feed.#ask(parsed.data.worker_id);
      },
      () => {
        // The subscription failed (e.g. fell behind): events were lost; resync every worker.
        for (const id of feed.indexer.workers()) if (feed.indexer.invalidate(id)) feed.#ask(id);
      },
    );
    feed.#consume(() => plane.subscribe("*.*.load-metrics"), (raw) => {
      const parsed = LoadMetricsSchema.safeParse(raw);
      if (!parsed.success) return feed.#invalid("load metrics", parsed.error.message);
      feed.load.set(parsed.data.worker_id, parsed.data);
    });
    feed.#consume(() => plane.subscribe(feed.#replySubject), (raw) => {
      const parsed = KvSnapshotSchema.safeParse(raw);
      if (!parsed.success) return feed.#invalid("KV snapshot", parsed.error.message);
      const id = parsed.data.worker_id;
      if (!feed.indexer.resyncing(id)) return;
      clearTimeout(feed.#timers.get(id));
      feed.#timers.delete(id);
      if (feed.indexer.applySnapshot(parsed.data) === "gap") feed.#ask(id);
    });
    return feed;
  }

  /** Forgets a departed worker (its blocks, its event ids, its load). */
  removeWorker(workerId: string): void {
    clearTimeout(this.#timers.get(workerId));
    this.#timers.delete(workerId);
    this.indexer.removeWorker(workerId);
    this.load.delete(workerId);
  }

  /** Unsubscribes and cancels pending resyncs. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await Promise.all([...this.#subs].map((s) => s.close()));
    await Promise.all(this.#loops);
  }

  #ask(workerId: string): void {
    if (this.#closed || !this.indexer.resyncing(workerId)) return;
    const where = this.#options.locate?.(workerId) ?? { namespace: "dynamo", component: "backend" };
    const query: KvQuery = { worker_id: workerId, reply_subject: this.#replySubject };
    this.resyncs++;
    this.#options.logger?.info("KV event gap; asking the worker for a snapshot", {
      worker_id: workerId,
    });
    this.#options.eventPlane.publish(kvQuerySubject(where.namespace, where.component), query)
      .catch((error) =>
        this.#options.logger?.warn("cannot send KV resync query", { error: String(error) })
      );
    clearTimeout(this.#timers.get(workerId));
    this.#timers.set(
      workerId,
      setTimeout(() => {
        this.#timers.delete(workerId);
        this.#ask(workerId);
      }, this.#options.resyncTimeoutMs ?? 2000),
    );
  }

  #invalid(what: string, message: string): void {
    this.#options.logger?.warn(`ignoring invalid ${what}`, { error: message });
  }

  /**
   * Consumes a subscription; when it fails (not on close) it resubscribes after a short
   * pause, calling `onLost` once the new subscription is in place.
   */
  #consume(
    subscribe: () => Subscription,
    handle: (raw: unknown) => void,
    onLost?: () => void,
  ): void {
    this.#loops.push((async () => {
      let lost = false;
      while (!this.#closed) {
        const sub = subscribe();
        this.#subs.add(sub);
        // Subscribed again before resyncing: nothing after the snapshots can be missed.
        if (lost) onLost?.();
        try {
          for await (const raw of sub) handle(raw);
          return; // closed
        } catch (error) {
          if (this.#closed) return;
          this.#options.logger?.warn("KV event subscription failed; resubscribing", {
            subject: sub.subject,
            error: String(error),
          });
        } finally {
          this.#subs.delete(sub);
          await sub.close();
        }
        lost = true;
        await new Promise((r) => setTimeout(r, 50));
      }
    })());
  }
}
