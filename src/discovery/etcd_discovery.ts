/**
 * Discovery on etcd through its v3 JSON gateway (`fetch` only, so it runs on Deno,
 * Bun and edge runtimes). One lease per process (TTL 10 s by default) holds every
 * key the process registered; a keep-alive refreshes it every TTL/3; `close()`
 * revokes it so the keys vanish at once, while a crashed process's keys vanish
 * when the TTL runs out.
 *
 * Lease loss: when a keep-alive reports the lease gone (etcd expired it, e.g. after
 * a partition longer than the TTL), the process grants a new lease and registers
 * every key again, logging an error. A key another process took meanwhile cannot be
 * re-registered: that is logged as an error and retried on every keep-alive, never
 * ignored. (An etcd restart alone does not expire leases: etcd extends them on start.)
 *
 * @module
 */
import { SluiceError } from "../errors/sluice_error.ts";
import type { Logger } from "../logging/logger.ts";
import type { Discovery, DiscoveryEntry, DiscoveryWatch, WatchOptions } from "./discovery.ts";
import { EtcdGateway, fromBase64 } from "./etcd_gateway.ts";
import { runEtcdWatch } from "./etcd_watch.ts";
import { queueWatch } from "./queue_watch.ts";

/** Options for {@linkcode EtcdDiscovery.connect}. */
export interface EtcdDiscoveryOptions {
  /** Client URLs (`ETCD_ENDPOINTS`, default `http://127.0.0.1:2379`). */
  endpoints: readonly string[];
  /** Lease TTL in seconds (default 10); tests use shorter. */
  ttlSeconds?: number;
  logger?: Logger;
  /** Lets the process exit while the keep-alive timer is pending (the runtime's `unrefTimer`). */
  unrefTimer?(timer: ReturnType<typeof setTimeout>): void;
}

/** {@linkcode Discovery} on etcd. Create it with {@linkcode EtcdDiscovery.connect}. */
export class EtcdDiscovery implements Discovery {
  readonly kind = "etcd";
  readonly #gateway: EtcdGateway;
  readonly #ttl: number;
  readonly #logger?: Logger;
  readonly #unrefTimer?: (timer: ReturnType<typeof setTimeout>) => void;
  /** Keys this process registered, with their JSON text (to register again after lease loss). */
  readonly #owned = new Map<string, string>();
  readonly #watches = new Set<DiscoveryWatch>();
  /** Owned keys that could not be registered again after a lease loss (retried each keep-alive). */
  readonly #missing = new Set<string>();
  #lease: string;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastRefresh = performance.now();
  #closed = false;
  #keepAliveRunning: Promise<void> = Promise.resolve();
  #replacing: Promise<void> | undefined;

  private constructor(gateway: EtcdGateway, lease: string, options: EtcdDiscoveryOptions) {
    this.#gateway = gateway;
    this.#lease = lease;
    this.#ttl = options.ttlSeconds ?? 10;
    this.#logger = options.logger;
    this.#unrefTimer = options.unrefTimer;
    this.#schedule();
  }

  /**
   * Connects: grants this process's lease and starts its keep-alive.
   * @throws {SluiceError} `CannotConnect` naming the endpoints when etcd cannot be reached.
   */
  static async connect(options: EtcdDiscoveryOptions): Promise<EtcdDiscovery> {
    const ttl = options.ttlSeconds ?? 10;
    if (!Number.isInteger(ttl) || ttl < 1) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot use etcd lease TTL ${ttl}: need whole seconds ≥ 1`,
      );
    }
    const gateway = new EtcdGateway(options.endpoints);
    const lease = await gateway.grant(ttl);
    return new EtcdDiscovery(gateway, lease, options);
  }

  /** This process's lease id (decimal string). */
  get leaseId(): string {
    return this.#lease;
  }

  async register(key: string, value: unknown, options: { signal?: AbortSignal } = {}) {
    this.#assertOpen(`register "${key}"`);
    const text = JSON.stringify(value);
    let owner: string | undefined;
    try {
      owner = await this.#gateway.putIfAbsentOrOwned(key, text, this.#lease, options.signal);
    } catch (error) {
      if (!/lease not found/i.test((error as Error).message)) throw error;
      // The lease expired before the keep-alive noticed: replace it now, then try once more.
      await this.#replaceLease(this.#lease);
      owner = await this.#gateway.putIfAbsentOrOwned(key, text, this.#lease, options.signal);
    }
    if (owner !== undefined) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot register "${key}": the key is owned by another process (lease ${owner})`,
      );
    }
    this.#owned.set(key, text);
  }

  async unregister(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (!this.#owned.delete(key) || this.#closed) return;
    await this.#gateway.deleteOwned(key, this.#lease, options.signal);
  }

  async list<V = unknown>(prefix: string, options: { signal?: AbortSignal } = {}) {
    this.#assertOpen(`list "${prefix}"`);
    const { kvs } = await this.#gateway.range(prefix, options.signal);
    const out: DiscoveryEntry<V>[] = [];
    for (const kv of kvs) {
      const key = fromBase64(kv.key);
      try {
        out.push({ key, value: JSON.parse(fromBase64(kv.value ?? "")) as V });
      } catch {
        this.#logger?.warn("etcd discovery: ignoring a value that is not JSON", { key });
      }
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  watch<V = unknown>(prefix: string, options: WatchOptions = {}): DiscoveryWatch<V> {
    this.#assertOpen(`watch "${prefix}"`);
    const watch: DiscoveryWatch<V> = queueWatch<V>(
      options,
      (feed) => runEtcdWatch(this.#gateway, prefix, feed, this.#logger),
      () => this.#watches.delete(watch as DiscoveryWatch),
    );
    this.#watches.add(watch as DiscoveryWatch);
    return watch;
  }

  /** Closes the watches and revokes the lease: every key this process registered vanishes. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#stop();
    await Promise.all([...this.#watches].map((w) => w.close()));
    await this.#keepAliveRunning;
    try {
      await this.#gateway.revoke(this.#lease);
    } catch (error) {
      this.#logger?.warn("etcd discovery: cannot revoke the lease; keys expire with its TTL", {
        lease: this.#lease,
        error: String(error),
      });
    }
  }

  /**
   * Stops keep-alives and watches WITHOUT revoking the lease, as a crashed process would:
   * the keys stay until the TTL runs out. For tests and failover drills.
   */
  async halt(): Promise<void> {
    if (this.#closed) return;
    this.#stop();
    await Promise.all([...this.#watches].map((w) => w.close()));
    await this.#keepAliveRunning;
  }

  #stop(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#keepAliveRunning = this.#keepAlive().finally(() => this.#schedule());
    }, (this.#ttl * 1000) / 3);
    this.#unrefTimer?.(this.#timer);
  }

  async #keepAlive(): Promise<void> {
    let ttl: number;
    try {
      ttl = await this.#gateway.keepAlive(this.#lease);
    } catch (error) {
      const silentFor = performance.now() - this.#lastRefresh;
      const log = silentFor > this.#ttl * 1000 ? "error" : "warn";
      this.#logger?.[log]("etcd discovery: keep-alive failed; retrying", {
        lease: this.#lease,
        ms_since_refresh: Math.round(silentFor),
        error: String(error),
      });
      return;
    }
    if (this.#closed) return;
    if (ttl > 0) {
      this.#lastRefresh = performance.now();
      if (this.#missing.size > 0) await this.#registerAgain([...this.#missing]);
      return;
    }
    await this.#replaceLease(this.#lease);
  }

  /**
   * Replaces the lost lease `lost` (once: concurrent callers share the replacement, and a
   * lease already replaced is left alone), then registers every owned key again.
   */
  #replaceLease(lost: string): Promise<void> {
    if (this.#lease !== lost) return this.#replacing ?? Promise.resolve();
    this.#replacing ??= this.#reRegister().finally(() => (this.#replacing = undefined));
    return this.#replacing;
  }

  async #reRegister(): Promise<void> {
    this.#logger?.error("etcd discovery: lease lost; registering again with a new lease", {
      lease: this.#lease,
      keys: this.#owned.size,
    });
    try {
      this.#lease = await this.#gateway.grant(this.#ttl);
      this.#lastRefresh = performance.now();
    } catch (error) {
      this.#logger?.error("etcd discovery: cannot grant a new lease; retrying", {
        error: String(error),
      });
      return;
    }
    await this.#registerAgain([...this.#owned.keys()]);
  }

  async #registerAgain(keys: string[]): Promise<void> {
    for (const key of keys) {
      const text = this.#owned.get(key);
      if (this.#closed) return;
      if (text === undefined) {
        this.#missing.delete(key);
        continue;
      }
      try {
        const owner = await this.#gateway.putIfAbsentOrOwned(key, text, this.#lease);
        if (owner === undefined) {
          this.#missing.delete(key);
          continue;
        }
        this.#logger?.error("etcd discovery: cannot register again: key owned elsewhere", {
          key,
          owner,
        });
      } catch (error) {
        this.#logger?.error("etcd discovery: cannot register again", { key, error: String(error) });
      }
      this.#missing.add(key);
    }
  }

  #assertOpen(action: string): void {
    if (this.#closed) {
      throw new SluiceError("CannotConnect", `Cannot ${action}: discovery is closed`);
    }
  }
}
