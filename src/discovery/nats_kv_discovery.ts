/**
 * Discovery in a NATS JetStream KV bucket: fits the edge story (a worker needs only
 * an outbound connection, WebSocket included).
 *
 * Liveness (nats-server 2.9 has bucket TTL but no per-key TTL, and emits no event
 * when an entry ages out): every entry is `{"owner": <handle id>, "value": <JSON>}`,
 * and its owner writes it again every TTL/3 (TTL 10 s by default). A watcher notes
 * when it last saw each key written; a key not written for longer than the TTL is
 * dead: the watcher deletes it (a conditional delete on the revision it saw, so a
 * fresh write is never removed) and reports `removed`. `list` drops entries whose
 * server timestamp is older than the TTL (hosts' clocks MUST agree within TTL/3,
 * e.g. by NTP). The bucket's own TTL (3 × the TTL) garbage-collects dead entries
 * that no watcher swept. Identical rewrites are not reported to watchers.
 *
 * Watching: see `nats_kv_watch.ts`.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { type KV, type KvEntry, Kvm } from "@nats-io/kv";
import { discoveryTtl, Heartbeat } from "./heartbeat.ts";
import { SluiceError } from "../errors/sluice_error.ts";
import type { Logger } from "../logging/logger.ts";
import type { Discovery, DiscoveryEntry, DiscoveryWatch, WatchOptions } from "./discovery.ts";
import { toKvKey } from "./nats_kv_key.ts";
import { parseEntry as parse, readEntries, runNatsKvWatch } from "./nats_kv_watch.ts";
import { queueWatch } from "./queue_watch.ts";

/** The default bucket name. */
export const DEFAULT_DISCOVERY_BUCKET = "sluice_discovery";

/** Options for {@linkcode NatsKvDiscovery.connect}. */
export interface NatsKvDiscoveryOptions {
  /** An open connection. */
  connection: NatsConnection;
  /** Close the connection on `close()` / `halt()` (default false: the caller owns it). */
  ownsConnection?: boolean;
  /** Bucket (default `sluice_discovery`); created when missing. */
  bucket?: string;
  /** Liveness TTL in ms (default 10 000). */
  ttlMs?: number;
  logger?: Logger;
  /** Lets the process exit while the heartbeat timer is pending. */
  unrefTimer?(timer: ReturnType<typeof setTimeout>): void;
}

/** {@linkcode Discovery} in a JetStream KV bucket. Create it with {@linkcode NatsKvDiscovery.connect}. */
export class NatsKvDiscovery implements Discovery {
  readonly kind = "nats";
  readonly #kv: KV;
  readonly #nc: NatsConnection;
  readonly #ownsConnection: boolean;
  readonly #ttl: number;
  readonly #owner = crypto.randomUUID();
  /** Owned keys: KV key → JSON text. */
  readonly #owned = new Map<string, string>();
  readonly #watches = new Set<DiscoveryWatch>();
  readonly #logger?: Logger;
  readonly #heartbeat: Heartbeat;
  #closed = false;

  private constructor(kv: KV, options: NatsKvDiscoveryOptions) {
    this.#kv = kv;
    this.#nc = options.connection;
    this.#ownsConnection = options.ownsConnection ?? false;
    this.#ttl = discoveryTtl(options.ttlMs, "NATS KV");
    this.#logger = options.logger;
    this.#heartbeat = new Heartbeat(this.#ttl, () => this.#beat(), options.unrefTimer);
  }

  /**
   * Opens (or creates) the bucket and starts this handle's heartbeat.
   * @throws {SluiceError} `CannotConnect` when JetStream is unavailable.
   */
  static async connect(options: NatsKvDiscoveryOptions): Promise<NatsKvDiscovery> {
    const ttl = discoveryTtl(options.ttlMs, "NATS KV");
    const bucket = options.bucket ?? DEFAULT_DISCOVERY_BUCKET;
    const kvm = new Kvm(options.connection);
    let kv: KV;
    try {
      const open = async () => {
        const bound = await kvm.open(bucket);
        await bound.status(); // binding is lazy: this fails when the bucket does not exist
        return bound;
      };
      // Open; else create; a creator racing us wins and we open its bucket.
      kv = await open().catch(() =>
        kvm.create(bucket, { history: 1, ttl: 3 * ttl }).catch(() => open())
      );
    } catch (error) {
      if (options.ownsConnection) await options.connection.close().catch(() => {});
      throw new SluiceError(
        "CannotConnect",
        `Cannot open NATS KV bucket "${bucket}" (JetStream enabled?): ${(error as Error).message}`,
        { cause: error },
      );
    }
    return new NatsKvDiscovery(kv, options);
  }

  async register(key: string, value: unknown): Promise<void> {
    this.#assertOpen(`register "${key}"`);
    const kvKey = toKvKey(key);
    const text = JSON.stringify({ owner: this.#owner, value });
    if (this.#owned.has(kvKey)) {
      await this.#call(`register "${key}"`, () => this.#kv.put(kvKey, text));
      this.#owned.set(kvKey, text);
      return;
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.#kv.create(kvKey, text);
        this.#owned.set(kvKey, text);
        return;
      } catch {
        // exists (or a transient failure): look at what is there
      }
      const existing = await this.#call(`register "${key}"`, () => this.#kv.get(kvKey));
      if (existing === null || existing.operation !== "PUT") continue;
      const parsed = parse(existing);
      if (parsed !== undefined && parsed.owner !== this.#owner && this.#alive(existing)) {
        throw new SluiceError(
          "InvalidArgument",
          `Cannot register "${key}": the key is owned by another process`,
        );
      }
      try {
        await this.#kv.update(kvKey, text, existing.revision);
        this.#owned.set(kvKey, text);
        return;
      } catch {
        // changed meanwhile: look again
      }
    }
    throw new SluiceError("CannotConnect", `Cannot register "${key}": the key keeps changing`);
  }

  async unregister(key: string): Promise<void> {
    const kvKey = toKvKey(key);
    if (!this.#owned.delete(kvKey) || this.#closed) return;
    const existing = await this.#call(`unregister "${key}"`, () => this.#kv.get(kvKey));
    if (existing === null || parse(existing)?.owner !== this.#owner) return;
    await this.#kv.delete(kvKey, { previousSeq: existing.revision }).catch(() => {});
  }

  async list<V = unknown>(prefix: string): Promise<DiscoveryEntry<V>[]> {
    this.#assertOpen(`list "${prefix}"`);
    const { entries } = await this.#call(`list "${prefix}"`, () => readEntries(this.#kv, prefix));
    return entries.filter((e) => this.#alive(e.entry)).map((e) => ({
      key: e.parsed.key,
      value: e.parsed.value as V,
    }));
  }

  watch<V = unknown>(prefix: string, options: WatchOptions = {}): DiscoveryWatch<V> {
    this.#assertOpen(`watch "${prefix}"`);
    const watch: DiscoveryWatch<V> = queueWatch<V>(
      options,
      (feed) => runNatsKvWatch(this.#kv, prefix, feed, { ttlMs: this.#ttl, logger: this.#logger }),
      () => this.#watches.delete(watch as DiscoveryWatch),
    );
    this.#watches.add(watch as DiscoveryWatch);
    return watch;
  }

  /** Stops the heartbeat and watches and deletes every key this handle registered. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const owned = [...this.#owned.keys()];
    await this.#stop();
    await Promise.allSettled(owned.map(async (kvKey) => {
      const existing = await this.#kv.get(kvKey);
      if (existing !== null && parse(existing)?.owner === this.#owner) {
        await this.#kv.delete(kvKey, { previousSeq: existing.revision });
      }
    }));
    this.#owned.clear();
    if (this.#ownsConnection) await this.#nc.close().catch(() => {});
  }

  /**
   * Stops heart-beating and watching WITHOUT deleting keys, as a crashed process would:
   * watchers drop its keys after the TTL. For tests and failover drills.
   */
  async halt(): Promise<void> {
    if (this.#closed) return;
    await this.#stop();
    if (this.#ownsConnection) await this.#nc.close().catch(() => {});
  }

  async #stop(): Promise<void> {
    this.#closed = true;
    const beating = this.#heartbeat.stop();
    await Promise.all([...this.#watches].map((w) => w.close()));
    await beating;
  }

  #alive(entry: KvEntry): boolean {
    return Date.now() - entry.created.getTime() <= this.#ttl;
  }

  /** Writes every owned key again (the heartbeat watchers measure liveness by). */
  async #beat(): Promise<void> {
    for (const [kvKey, text] of this.#owned) {
      if (this.#closed) return;
      try {
        await this.#kv.put(kvKey, text);
      } catch (error) {
        this.#logger?.warn("NATS KV discovery: heartbeat failed", {
          key: kvKey,
          error: String(error),
        });
      }
    }
  }

  async #call<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof SluiceError) throw error;
      throw new SluiceError("CannotConnect", `Cannot ${action}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  #assertOpen(action: string): void {
    if (this.#closed) {
      throw new SluiceError("CannotConnect", `Cannot ${action}: discovery is closed`);
    }
  }
}
