/**
 * The routing table: which workers serve which model, learned from discovery.
 * It watches `v1/instances` (endpoint records: how to reach a worker) and
 * `v1/mdc` (model cards: what it serves) and joins them on the key suffix
 * `{ns}/{component}/{endpoint}/{instanceHex}`. A worker is routable while both of
 * its entries exist. Per-worker state (requests in flight, cool-down) lives on
 * its {@linkcode WorkerSlot} and survives unrelated changes of the table.
 *
 * @module
 */
import { type Discovery, DiscoveryPrefix } from "../discovery/discovery.ts";
import type { DiscoveryEvent, DiscoveryWatch } from "../discovery/discovery.ts";
import type { Logger } from "../logging/logger.ts";
import { type InstanceRecord, type ModelCard, ModelCardSchema } from "../model_card/model_card.ts";
import type { RoutableWorker } from "./routing_policy.ts";

/** One routable worker and this frontend's bookkeeping for it. */
export interface WorkerSlot extends RoutableWorker {
  /** Key suffix shared by its instance record and model card. */
  readonly key: string;
  /** The worker's instance record from discovery. */
  readonly record: InstanceRecord;
  /** The model card the worker published. */
  readonly card: ModelCard;
  /** Requests this frontend has in flight on the worker (the router maintains it). */
  inflight: number;
  /** `performance.now()` time before which the worker is skipped after a failure. */
  cooldownUntil: number;
}

/** Options for {@linkcode RoutingTable.open}. */
export interface RoutingTableOptions {
  /** Logs discovery changes. */
  logger?: Logger;
  /** Ends the watches (as `close()` does). */
  signal?: AbortSignal;
  /** Only workers of this namespace are routed to (default: every namespace). */
  namespace?: string;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function isInstanceRecord(value: unknown): value is InstanceRecord {
  const v = value as Partial<InstanceRecord> | null;
  return typeof v === "object" && v !== null && typeof v.instance_id === "string" &&
    /^[0-9]+$/.test(v.instance_id) && typeof v.transport === "object" && v.transport !== null &&
    (v.ready === undefined || typeof v.ready === "boolean");
}

/**
 * A live view of the workers in discovery, grouped by served model name.
 *
 * @example
 * ```ts
 * import { MemoryDiscovery } from "../discovery/memory_discovery.ts";
 * import { RoutingTable } from "./routing_table.ts";
 * const table = await RoutingTable.open(new MemoryDiscovery());
 * console.assert(table.models().length === 0);
 * await table.close();
 * ```
 */
export class RoutingTable {
  #instances = new Map<string, InstanceRecord>();
  #cards = new Map<string, ModelCard>();
  #slots = new Map<string, WorkerSlot>();
  #byModel = new Map<string, WorkerSlot[]>();
  #listeners = new Set<() => void>();
  #watches: DiscoveryWatch[] = [];
  #loops: Promise<void>[] = [];
  #logger: Logger | undefined;
  #namespace: string | undefined;

  private constructor(logger: Logger | undefined, namespace: string | undefined) {
    this.#logger = logger;
    this.#namespace = namespace;
  }

  /**
   * Opens the table: starts both watches and resolves once both snapshots are applied, so
   * a frontend that starts after its workers knows them before serving its first request.
   */
  static async open(
    discovery: Discovery,
    options: RoutingTableOptions = {},
  ): Promise<RoutingTable> {
    const table = new RoutingTable(options.logger, options.namespace);
    const ready: Promise<void>[] = [];
    for (const prefix of [DiscoveryPrefix.instances, DiscoveryPrefix.modelCards]) {
      const watch = discovery.watch(prefix, { signal: options.signal });
      table.#watches.push(watch);
      let snapshotSeen!: () => void;
      ready.push(new Promise<void>((resolve) => (snapshotSeen = resolve)));
      table.#loops.push(table.#consume(prefix, watch, snapshotSeen));
    }
    await Promise.race([Promise.all(ready), Promise.all(table.#loops)]);
    return table;
  }

  /** Served model names with at least one routable worker, sorted. */
  models(): string[] {
    return [...this.#byModel.keys()].sort();
  }

  /** The routable workers of `model` (empty when none). The array MUST NOT be mutated. */
  workers(model: string): readonly WorkerSlot[] {
    return this.#byModel.get(model) ?? [];
  }

  /** Every routable worker. */
  allWorkers(): WorkerSlot[] {
    return [...this.#slots.values()];
  }

  /** The model card of `model` (its first worker's), or `undefined` when it has no worker. */
  card(model: string): ModelCard | undefined {
    return this.#byModel.get(model)?.[0]?.card;
  }

  /** Calls `listener` after every change of the table; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops watching discovery. Idempotent. */
  async close(): Promise<void> {
    await Promise.all(this.#watches.map((w) => w.close()));
    await Promise.allSettled(this.#loops);
    this.#listeners.clear();
  }

  async #consume(prefix: string, watch: DiscoveryWatch, snapshotSeen: () => void): Promise<void> {
    const cut = prefix.length + 1;
    try {
      for await (const event of watch as AsyncIterable<DiscoveryEvent>) {
        this.#apply(prefix, cut, event);
        if (event.type === "snapshot") snapshotSeen();
      }
    } catch (error) {
      this.#logger?.error("routing table watch failed; workers may be stale", {
        prefix,
        error: String(error),
      });
    } finally {
      snapshotSeen();
    }
  }

  #apply(prefix: string, cut: number, event: DiscoveryEvent): void {
    const isCards = prefix === DiscoveryPrefix.modelCards;
    const target: Map<string, unknown> = isCards ? this.#cards : this.#instances;
    const put = (key: string, value: unknown) => {
      // Keys are `{ns}/{component}/{endpoint}/{instance}` below the prefix.
      if (this.#namespace !== undefined && !key.slice(cut).startsWith(`${this.#namespace}/`)) {
        return;
      }
      if (isCards) {
        const card = ModelCardSchema.safeParse(value);
        if (!card.success) {
          this.#logger?.warn("ignoring invalid model card", { key, error: card.error.message });
          return;
        }
        this.#cards.set(key.slice(cut), card.data);
      } else if (isInstanceRecord(value)) {
        this.#instances.set(key.slice(cut), value);
      } else {
        this.#logger?.warn("ignoring invalid instance record", { key });
      }
    };
    if (event.type === "snapshot") {
      target.clear();
      for (const entry of event.entries) put(entry.key, entry.value);
    } else if (event.type === "added") {
      put(event.entry.key, event.entry.value);
    } else {
      target.delete(event.key.slice(cut));
    }
    this.#rebuild();
  }

  #rebuild(): void {
    const slots = new Map<string, WorkerSlot>();
    const byModel = new Map<string, WorkerSlot[]>();
    for (const [key, record] of this.#instances) {
      const card = this.#cards.get(key);
      if (card === undefined) continue;
      // Reuse the slot so requests in flight keep releasing into the object the router counts.
      let slot = this.#slots.get(key) as Mutable<WorkerSlot> | undefined;
      if (slot === undefined) {
        slot = { key, instanceId: record.instance_id, record, card, inflight: 0, cooldownUntil: 0 };
      } else {
        slot.record = record;
        slot.card = card;
        slot.instanceId = record.instance_id;
      }
      slots.set(key, slot);
      const list = byModel.get(card.served_model_name);
      if (list === undefined) byModel.set(card.served_model_name, [slot]);
      else list.push(slot);
    }
    this.#slots = slots;
    this.#byModel = byModel;
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (error) {
        this.#logger?.warn("routing table listener failed", { error: String(error) });
      }
    }
  }
}
