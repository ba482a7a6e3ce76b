/**
 * Process-local discovery: the embedded default and the reference for tests.
 * Several `MemoryDiscovery` handles can share one {@linkcode MemoryDiscoveryStore}
 * to model several processes (each handle owns what it registered).
 *
 * @module
 */
import { SluiceError } from "../errors/sluice_error.ts";
import { AsyncQueue } from "../util/async_queue.ts";
import type {
  Discovery,
  DiscoveryEntry,
  DiscoveryEvent,
  DiscoveryWatch,
  WatchOptions,
} from "./discovery.ts";

/** One watch registered in a {@linkcode MemoryDiscoveryStore}. */
type Watcher = MemoryDiscoveryStore["watchers"] extends Set<infer W> ? W : never;

/**
 * The shared key space behind one or more {@linkcode MemoryDiscovery} handles. Pass one
 * store to several handles to model several processes. Its fields are the handles' shared
 * state: only {@linkcode MemoryDiscovery} MUST change them, since writing them directly
 * skips ownership checks and leaves watchers without events.
 */
export class MemoryDiscoveryStore {
  /** Registered values by key, each with the handle that owns it. */
  readonly entries: Map<string, { value: unknown; owner: MemoryDiscovery }> = new Map();
  /** Open watches: their key prefix and the queue their events go to. */
  readonly watchers: Set<{ prefix: string; queue: AsyncQueue<DiscoveryEvent> }> = new Set();

  /** Delivers an event to every watcher whose prefix matches, with back-pressure. */
  async emit(key: string, event: DiscoveryEvent): Promise<void> {
    const deliveries: Promise<void>[] = [];
    for (const w of this.watchers) {
      if (key.startsWith(w.prefix) && !w.queue.closed) {
        deliveries.push(w.queue.push(event).catch(() => {}));
      }
    }
    await Promise.all(deliveries);
  }
}

/**
 * In-memory {@linkcode Discovery}.
 *
 * @example
 * ```ts
 * import { MemoryDiscovery } from "./memory_discovery.ts";
 * const d = new MemoryDiscovery();
 * await d.register("v1/instances/dynamo/backend/generate/1", { ok: true });
 * console.assert((await d.list("v1/instances")).length === 1);
 * await d.close();
 * ```
 */
export class MemoryDiscovery implements Discovery {
  readonly kind = "memory";
  #store: MemoryDiscoveryStore;
  #closed = false;
  #watches = new Set<DiscoveryWatch>();

  /** Creates a handle on `options.store`, or on a new store of its own when absent. */
  constructor(options: { store?: MemoryDiscoveryStore } = {}) {
    this.#store = options.store ?? new MemoryDiscoveryStore();
  }

  async register(key: string, value: unknown): Promise<void> {
    this.#assertOpen(`register "${key}"`);
    const existing = this.#store.entries.get(key);
    if (existing && existing.owner !== this) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot register "${key}": the key is owned by another process`,
      );
    }
    const copy = structuredClone(value);
    this.#store.entries.set(key, { value: copy, owner: this });
    await this.#store.emit(key, { type: "added", entry: { key, value: copy } });
  }

  async unregister(key: string): Promise<void> {
    const existing = this.#store.entries.get(key);
    if (!existing || existing.owner !== this) return;
    this.#store.entries.delete(key);
    await this.#store.emit(key, { type: "removed", key });
  }

  list<V = unknown>(prefix: string): Promise<DiscoveryEntry<V>[]> {
    this.#assertOpen(`list "${prefix}"`);
    return Promise.resolve(this.#snapshot<V>(prefix));
  }

  watch<V = unknown>(prefix: string, options: WatchOptions = {}): DiscoveryWatch<V> {
    this.#assertOpen(`watch "${prefix}"`);
    const queue = new AsyncQueue<DiscoveryEvent>(options.highWaterMark ?? 1024);
    const watcher: Watcher = { prefix, queue };
    queue.tryPush({ type: "snapshot", entries: this.#snapshot(prefix) });
    this.#store.watchers.add(watcher);
    const close = () => {
      this.#store.watchers.delete(watcher);
      queue.close();
      options.signal?.removeEventListener("abort", close);
      this.#watches.delete(watch);
      return Promise.resolve();
    };
    const watch: DiscoveryWatch<V> = {
      [Symbol.asyncIterator]: () => {
        const it = queue[Symbol.asyncIterator]();
        return {
          next: () => it.next() as Promise<IteratorResult<DiscoveryEvent<V>, undefined>>,
          return: async () => {
            await close();
            return { done: true, value: undefined };
          },
        };
      },
      close,
      [Symbol.asyncDispose]: close,
    };
    this.#watches.add(watch as DiscoveryWatch);
    if (options.signal?.aborted) void close();
    else options.signal?.addEventListener("abort", close, { once: true });
    return watch;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of [...this.#watches]) await w.close();
    for (const [key, entry] of [...this.#store.entries]) {
      if (entry.owner === this) {
        this.#store.entries.delete(key);
        await this.#store.emit(key, { type: "removed", key });
      }
    }
  }

  #snapshot<V>(prefix: string): DiscoveryEntry<V>[] {
    const out: DiscoveryEntry<V>[] = [];
    for (const [key, { value }] of this.#store.entries) {
      if (key.startsWith(prefix)) out.push({ key, value: structuredClone(value) as V });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  #assertOpen(action: string): void {
    if (this.#closed) {
      throw new SluiceError("CannotConnect", `Cannot ${action}: discovery is closed`);
    }
  }
}
