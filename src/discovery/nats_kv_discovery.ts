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
 * Watch: the snapshot is the bucket's keys and values read after noting the stream's
 * last sequence; the watch then replays from that sequence + 1 (per key, anything at
 * or below the revision already reported is skipped), so nothing between the two is
 * lost. The client's ordered consumer resumes by itself after a reconnect; when the
 * watch itself fails, it is created again from the revision after the last one seen.
 * Back-pressure: the watch's own queue is bounded, but the NATS client buffers the
 * consumer's deliveries in its iterator without a bound (its push consumer does not pause),
 * so a watcher that stops reading holds at most every change made meanwhile.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { type KV, type KvEntry, Kvm } from "@nats-io/kv";
import { SluiceError } from "../errors/sluice_error.ts";
import type { Logger } from "../logging/logger.ts";
import type { Discovery, DiscoveryEntry, DiscoveryWatch, WatchOptions } from "./discovery.ts";
import { fromKvKey, kvFilterFor, toKvKey } from "./nats_kv_key.ts";
import { queueWatch, sleep, type WatchFeed } from "./queue_watch.ts";

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2000;
/** Concurrent `get`s while reading a snapshot. */
const READ_BATCH = 32;

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

interface Parsed {
  key: string;
  owner: string;
  value: unknown;
  text: string;
}

function parse(entry: KvEntry): Parsed | undefined {
  if (entry.operation !== "PUT") return undefined;
  const key = fromKvKey(entry.key);
  if (key === undefined) return undefined;
  try {
    const text = entry.string();
    const body = JSON.parse(text) as { owner?: unknown; value?: unknown };
    if (typeof body.owner !== "string" || !("value" in body)) return undefined;
    return { key, owner: body.owner, value: body.value, text };
  } catch {
    return undefined;
  }
}

const byKey = (
  a: { key: string },
  b: { key: string },
) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

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
  readonly #unrefTimer?: (timer: ReturnType<typeof setTimeout>) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #beating: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(kv: KV, options: NatsKvDiscoveryOptions) {
    this.#kv = kv;
    this.#nc = options.connection;
    this.#ownsConnection = options.ownsConnection ?? false;
    this.#ttl = options.ttlMs ?? 10000;
    this.#logger = options.logger;
    this.#unrefTimer = options.unrefTimer;
    this.#schedule();
  }

  /**
   * Opens (or creates) the bucket and starts this handle's heartbeat.
   * @throws {SluiceError} `CannotConnect` when JetStream is unavailable.
   */
  static async connect(options: NatsKvDiscoveryOptions): Promise<NatsKvDiscovery> {
    const ttl = options.ttlMs ?? 10000;
    if (!Number.isFinite(ttl) || ttl < 30) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot use NATS KV discovery TTL ${ttl} ms: need ≥ 30`,
      );
    }
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
    const { entries } = await this.#call(`list "${prefix}"`, () => this.#read(prefix));
    return entries.filter((e) => this.#alive(e.entry)).map((e) => ({
      key: e.parsed.key,
      value: e.parsed.value as V,
    }));
  }

  watch<V = unknown>(prefix: string, options: WatchOptions = {}): DiscoveryWatch<V> {
    this.#assertOpen(`watch "${prefix}"`);
    const watch: DiscoveryWatch<V> = queueWatch<V>(
      options,
      (feed) => this.#runWatch(prefix, feed),
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
    clearTimeout(this.#timer);
    await Promise.all([...this.#watches].map((w) => w.close()));
    await this.#beating;
  }

  #alive(entry: KvEntry): boolean {
    return Date.now() - entry.created.getTime() <= this.#ttl;
  }

  /** Entries under `prefix` (sorted by key) and the stream sequence read before them. */
  async #read(
    prefix: string,
  ): Promise<{ entries: { entry: KvEntry; parsed: Parsed }[]; seq: number }> {
    const seq = (await this.#kv.status()).streamInfo.state.last_seq;
    const out: { entry: KvEntry; parsed: Parsed }[] = [];
    const keys = await this.#kv.keys(kvFilterFor(prefix));
    const names: string[] = [];
    for await (const k of keys) names.push(k);
    for (let i = 0; i < names.length; i += READ_BATCH) {
      const entries = await Promise.all(names.slice(i, i + READ_BATCH).map((k) => this.#kv.get(k)));
      for (const entry of entries) {
        const parsed = entry === null ? undefined : parse(entry);
        if (entry !== null && parsed !== undefined && parsed.key.startsWith(prefix)) {
          out.push({ entry, parsed });
        }
      }
    }
    return { entries: out.sort((a, b) => byKey(a.parsed, b.parsed)), seq };
  }

  async #runWatch(prefix: string, feed: WatchFeed): Promise<void> {
    /** Per reported key: its KV key, text, revision, and when it was last written. */
    const known = new Map<
      string,
      { kvKey: string; text: string; revision: number; seenAt: number }
    >();
    /** Highest revision handled per key (reported or removed), to skip replays. */
    const handled = new Map<string, number>();
    let resumeFrom = 0;
    let delay = RETRY_MIN_MS;
    // The snapshot: retried until it succeeds (the caller waits for it).
    while (!feed.signal.aborted) {
      try {
        const { entries, seq } = await this.#read(prefix);
        const now = Date.now();
        const snapshot: DiscoveryEntry[] = [];
        for (const { entry, parsed } of entries) {
          handled.set(parsed.key, entry.revision);
          const writtenAt = Math.min(now, entry.created.getTime());
          if (now - writtenAt > this.#ttl) continue;
          known.set(parsed.key, {
            kvKey: entry.key,
            text: parsed.text,
            revision: entry.revision,
            seenAt: writtenAt,
          });
          snapshot.push({ key: parsed.key, value: parsed.value });
        }
        await feed.push({ type: "snapshot", entries: snapshot });
        resumeFrom = seq + 1;
        break;
      } catch (error) {
        if (feed.signal.aborted) return;
        this.#logger?.warn("NATS KV discovery: cannot read the snapshot; retrying", {
          prefix,
          error: String(error),
        });
        await sleep(delay, feed.signal);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
    let serial: Promise<void> = Promise.resolve();
    const exclusive = (fn: () => Promise<void>) => (serial = serial.then(fn));
    const onEntry = async (entry: KvEntry) => {
      if (entry.revision >= resumeFrom) resumeFrom = entry.revision + 1;
      const key = fromKvKey(entry.key);
      if (key === undefined || !key.startsWith(prefix)) return;
      if ((handled.get(key) ?? 0) >= entry.revision) return;
      handled.set(key, entry.revision);
      const parsed = parse(entry);
      const current = known.get(key);
      if (parsed === undefined) {
        if (current !== undefined) {
          known.delete(key);
          await feed.push({ type: "removed", key });
        }
        return;
      }
      known.set(key, {
        kvKey: entry.key,
        text: parsed.text,
        revision: entry.revision,
        seenAt: Date.now(),
      });
      if (current?.text !== parsed.text) {
        await feed.push({ type: "added", entry: { key, value: parsed.value } });
      }
    };
    // Liveness is judged only while the watch is up: during an outage nobody can heartbeat.
    let watching = false;
    const sweep = async () => {
      const now = Date.now();
      for (const [key, k] of [...known]) {
        if (!watching || now - k.seenAt <= this.#ttl) continue;
        known.delete(key);
        await this.#kv.delete(k.kvKey, { previousSeq: k.revision }).catch(() => {});
        await feed.push({ type: "removed", key });
      }
    };
    const sweeper = (async () => {
      while (!feed.signal.aborted) {
        await sleep(Math.min(1000, this.#ttl / 3), feed.signal);
        if (!feed.signal.aborted) await exclusive(sweep);
      }
    })();
    try {
      delay = RETRY_MIN_MS;
      while (!feed.signal.aborted) {
        try {
          const updates = await this.#kv.watch({
            key: kvFilterFor(prefix),
            resumeFromRevision: resumeFrom,
          });
          const stop = () => updates.stop();
          feed.signal.addEventListener("abort", stop, { once: true });
          try {
            // Back after an outage: everyone gets a fresh TTL to heartbeat again.
            const now = Date.now();
            for (const k of known.values()) k.seenAt = Math.max(k.seenAt, now);
            watching = true;
            delay = RETRY_MIN_MS;
            for await (const entry of updates) {
              if (feed.signal.aborted) break;
              await exclusive(() => onEntry(entry));
            }
          } finally {
            watching = false;
            feed.signal.removeEventListener("abort", stop);
            updates.stop();
          }
        } catch (error) {
          if (feed.signal.aborted) return;
          this.#logger?.warn("NATS KV discovery: watch interrupted; resuming", {
            prefix,
            from_revision: resumeFrom,
            error: String(error),
          });
        }
        await sleep(delay, feed.signal);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    } finally {
      await sweeper.catch(() => {});
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#beating = this.#beat().finally(() => this.#schedule());
    }, this.#ttl / 3);
    this.#unrefTimer?.(this.#timer);
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
