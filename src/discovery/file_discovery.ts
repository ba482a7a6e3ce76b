/**
 * Discovery in a directory (`DYN_FILE_KV`): no server, for one machine or a shared
 * file system. One file per key, named by the percent-encoded key (`/` and `.`
 * encoded too, so the directory is flat and any prefix is one `readdir`), holding
 * `{"owner": <handle id>, "value": <JSON>}`. Writes go to a temp file, then `link`
 * (create-if-absent, atomic) or `rename` (replace, atomic).
 *
 * Liveness: each handle touches its own files every TTL/3 (TTL 10 s by default); a
 * file not touched for longer than the TTL is dead: readers ignore it at once and
 * every handle's sweep deletes it. A handle that finds its own file swept (it was
 * stalled past the TTL) writes it again and logs a warning.
 *
 * Watching uses the runtime's file watcher plus a periodic rescan (at most 1 s, or
 * TTL/3 when shorter) that also catches expiry. A watch diffs successive scans, so
 * it reports state changes: changes between two scans arrive as additions (oldest
 * write first), then removals; per key the order is always kept, and a value that
 * changes and changes back between two scans is not reported.
 *
 * @module
 */
import { discoveryTtl, Heartbeat } from "./heartbeat.ts";
import { SluiceError } from "../errors/sluice_error.ts";
import type { Logger } from "../logging/logger.ts";
import type { DirectoryStore, StoredFile } from "../runtime/directory_store.ts";
import type { Discovery, DiscoveryEntry, DiscoveryWatch, WatchOptions } from "./discovery.ts";
import { queueWatch, sleep, type WatchFeed } from "./queue_watch.ts";

/** Options for {@linkcode FileDiscovery.connect}. */
export interface FileDiscoveryOptions {
  /** The directory (`DYN_FILE_KV`) through its file-system adapter. */
  store: DirectoryStore;
  /** Liveness TTL in ms (default 10 000). */
  ttlMs?: number;
  logger?: Logger;
  /** Lets the process exit while the heartbeat timer is pending. */
  unrefTimer?(timer: ReturnType<typeof setTimeout>): void;
}

/** The file name of `key`. */
export function encodeFileKey(key: string): string {
  return encodeURIComponent(key).replaceAll(".", "%2E");
}

function decodeFileKey(name: string): string | undefined {
  try {
    return decodeURIComponent(name);
  } catch {
    return undefined; // not one of ours
  }
}

interface Parsed {
  key: string;
  owner: string;
  value: unknown;
  text: string;
  mtimeMs: number;
}

function parse(file: StoredFile): Parsed | undefined {
  const key = decodeFileKey(file.name);
  if (key === undefined) return undefined;
  try {
    const body = JSON.parse(file.text) as { owner?: unknown; value?: unknown };
    if (typeof body.owner !== "string" || !("value" in body)) return undefined;
    return { key, owner: body.owner, value: body.value, text: file.text, mtimeMs: file.mtimeMs };
  } catch {
    return undefined; // a foreign or half-written file is ignored
  }
}

const byKey = (
  a: { key: string },
  b: { key: string },
) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** {@linkcode Discovery} in a directory. Create it with {@linkcode FileDiscovery.connect}. */
export class FileDiscovery implements Discovery {
  readonly kind = "file";
  readonly #store: DirectoryStore;
  readonly #ttl: number;
  readonly #owner = crypto.randomUUID();
  readonly #owned = new Map<string, string>();
  readonly #watches = new Set<DiscoveryWatch>();
  readonly #logger?: Logger;
  readonly #heartbeat: Heartbeat;
  #closed = false;

  private constructor(options: FileDiscoveryOptions) {
    this.#store = options.store;
    this.#ttl = discoveryTtl(options.ttlMs, "file");
    this.#logger = options.logger;
    this.#heartbeat = new Heartbeat(this.#ttl, () => this.#beat(), options.unrefTimer);
  }

  /**
   * Creates the directory when missing and starts this handle's heartbeat and sweep.
   * @throws {SluiceError} `CannotConnect` when the directory cannot be created.
   */
  static async connect(options: FileDiscoveryOptions): Promise<FileDiscovery> {
    discoveryTtl(options.ttlMs, "file");
    try {
      await options.store.ensure();
    } catch (error) {
      throw new SluiceError(
        "CannotConnect",
        `Cannot use DYN_FILE_KV directory "${options.store.dir}": ${(error as Error).message}`,
        { cause: error },
      );
    }
    return new FileDiscovery(options);
  }

  async register(key: string, value: unknown): Promise<void> {
    this.#assertOpen(`register "${key}"`);
    const text = JSON.stringify({ owner: this.#owner, value });
    const name = encodeFileKey(key);
    if (this.#owned.has(key)) {
      await this.#store.replace(name, text);
      this.#owned.set(key, text);
      return;
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await this.#store.create(name, text)) {
        this.#owned.set(key, text);
        return;
      }
      const file = await this.#store.read(name);
      if (file === undefined) continue;
      const existing = parse(file);
      if (existing !== undefined && existing.owner !== this.#owner && this.#alive(file)) {
        throw new SluiceError(
          "InvalidArgument",
          `Cannot register "${key}": the key is owned by another process`,
        );
      }
      await this.#store.remove(name); // dead, unreadable, or our own leftover
    }
    throw new SluiceError("CannotConnect", `Cannot register "${key}": the key keeps changing`);
  }

  async unregister(key: string): Promise<void> {
    if (!this.#owned.delete(key)) return;
    const name = encodeFileKey(key);
    const file = await this.#store.read(name);
    if (file !== undefined && parse(file)?.owner === this.#owner) await this.#store.remove(name);
  }

  async list<V = unknown>(prefix: string): Promise<DiscoveryEntry<V>[]> {
    this.#assertOpen(`list "${prefix}"`);
    return (await this.#scan(prefix)).map((p) => ({ key: p.key, value: p.value as V }));
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

  /** Stops the heartbeat and watches, and deletes every file this handle registered. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.halt();
    await Promise.allSettled(
      [...this.#owned.keys()].map((key) => this.unregister(key)),
    );
  }

  /**
   * Stops heart-beating and watching WITHOUT deleting files, as a crashed process would:
   * its keys die with the TTL. For tests and failover drills.
   */
  async halt(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const beating = this.#heartbeat.stop();
    await Promise.all([...this.#watches].map((w) => w.close()));
    await beating;
  }

  #alive(file: { mtimeMs: number }): boolean {
    return Date.now() - file.mtimeMs <= this.#ttl;
  }

  /** Live entries under `prefix`, sorted by key. */
  async #scan(prefix: string): Promise<Parsed[]> {
    const files = await this.#store.readAll((name) =>
      decodeFileKey(name)?.startsWith(prefix) ?? false
    );
    const out: Parsed[] = [];
    for (const file of files) {
      const parsed = parse(file);
      if (parsed !== undefined && this.#alive(file)) out.push(parsed);
    }
    return out.sort(byKey);
  }

  async #runWatch(prefix: string, feed: WatchFeed): Promise<void> {
    let wake: (() => void) | undefined;
    let dirty = false;
    const stopWatching = this.#store.watch(() => {
      dirty = true;
      wake?.();
    });
    const rescanMs = Math.min(1000, this.#ttl / 3);
    try {
      const known = new Map<string, string>();
      const first = await this.#scan(prefix);
      for (const p of first) known.set(p.key, p.text);
      await feed.push({
        type: "snapshot",
        entries: first.map((p) => ({ key: p.key, value: p.value })),
      });
      while (!feed.signal.aborted) {
        if (!dirty) {
          await Promise.race([
            sleep(rescanMs, feed.signal),
            new Promise<void>((resolve) => (wake = resolve)),
          ]);
          wake = undefined;
        }
        if (feed.signal.aborted) return;
        dirty = false;
        let now: Parsed[];
        try {
          now = await this.#scan(prefix);
        } catch (error) {
          this.#logger?.warn("file discovery: scan failed; retrying", { error: String(error) });
          continue;
        }
        const seen = new Set<string>();
        const added = now.filter((p) => {
          seen.add(p.key);
          return known.get(p.key) !== p.text;
        }).sort((a, b) => a.mtimeMs - b.mtimeMs || byKey(a, b));
        for (const p of added) {
          known.set(p.key, p.text);
          await feed.push({ type: "added", entry: { key: p.key, value: p.value } });
        }
        for (const key of [...known.keys()].sort()) {
          if (seen.has(key)) continue;
          known.delete(key);
          await feed.push({ type: "removed", key });
        }
      }
    } finally {
      stopWatching();
    }
  }

  /** Touches this handle's files, writes back any that were swept, and sweeps dead files. */
  async #beat(): Promise<void> {
    for (const [key, text] of this.#owned) {
      if (this.#closed) return;
      const name = encodeFileKey(key);
      try {
        if (await this.#store.touch(name)) continue;
        this.#logger?.warn(
          "file discovery: own key was swept (stalled past the TTL); writing it again",
          { key },
        );
        if (!(await this.#store.create(name, text))) {
          this.#logger?.error("file discovery: cannot write own key again: taken", { key });
        }
      } catch (error) {
        this.#logger?.warn("file discovery: heartbeat failed", { key, error: String(error) });
      }
    }
    try {
      for (const file of await this.#store.readAll(() => true)) {
        if (this.#closed) return;
        if (!this.#alive(file) && parse(file)?.owner !== this.#owner) {
          await this.#store.remove(file.name);
        }
      }
    } catch (error) {
      this.#logger?.warn("file discovery: sweep failed", { error: String(error) });
    }
  }

  #assertOpen(action: string): void {
    if (this.#closed) {
      throw new SluiceError("CannotConnect", `Cannot ${action}: discovery is closed`);
    }
  }
}
