/**
 * Watching a NATS KV bucket for `NatsKvDiscovery`, and reading its entries.
 *
 * The snapshot is the bucket's keys and values read after noting the stream's last
 * sequence; the watch then replays from that sequence + 1 (per key, anything at or below
 * the revision already reported is skipped), so nothing between the two is lost. The
 * client's ordered consumer resumes by itself after a reconnect; when the watch itself
 * fails, it is created again from the revision after the last one seen.
 *
 * Liveness: the watcher notes when it last saw each key written; a key not written for
 * longer than the TTL is dead: the watcher deletes it (conditionally on the revision it
 * saw, so a fresh write is never removed) and reports `removed`. Liveness is judged only
 * while the watch is up, and everyone gets a fresh TTL after an outage.
 *
 * Back-pressure: the watch's own queue is bounded, but the NATS client buffers the
 * consumer's deliveries in its iterator without a bound (its push consumer does not pause),
 * so a watcher that stops reading holds at most every change made meanwhile.
 *
 * @module
 */
import type { KV, KvEntry } from "@nats-io/kv";
import type { Logger } from "../logging/logger.ts";
import type { DiscoveryEntry } from "./discovery.ts";
import { fromKvKey, kvFilterFor } from "./nats_kv_key.ts";
import { sleep, type WatchFeed } from "./queue_watch.ts";

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2000;
/** Concurrent `get`s while reading a snapshot. */
const READ_BATCH = 32;

/** A discovery entry as stored: its key, owner, value and JSON text. */
export interface ParsedEntry {
  key: string;
  owner: string;
  value: unknown;
  text: string;
}

/** Decodes a KV entry written by `NatsKvDiscovery`; `undefined` for deletes and foreign entries. */
export function parseEntry(entry: KvEntry): ParsedEntry | undefined {
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

/** Entries under `prefix` (sorted by key) and the stream sequence read before them. */
export async function readEntries(
  kv: KV,
  prefix: string,
): Promise<{ entries: { entry: KvEntry; parsed: ParsedEntry }[]; seq: number }> {
  const seq = (await kv.status()).streamInfo.state.last_seq;
  const out: { entry: KvEntry; parsed: ParsedEntry }[] = [];
  const keys = await kv.keys(kvFilterFor(prefix));
  const names: string[] = [];
  for await (const k of keys) names.push(k);
  for (let i = 0; i < names.length; i += READ_BATCH) {
    const entries = await Promise.all(names.slice(i, i + READ_BATCH).map((k) => kv.get(k)));
    for (const entry of entries) {
      const parsed = entry === null ? undefined : parseEntry(entry);
      if (entry !== null && parsed !== undefined && parsed.key.startsWith(prefix)) {
        out.push({ entry, parsed });
      }
    }
  }
  return { entries: out.sort((a, b) => byKey(a.parsed, b.parsed)), seq };
}

/**
 * Feeds `feed` with the snapshot and changes under `prefix` until the feed's signal fires;
 * connection failures are retried (and logged), never surfaced as lost events.
 */
export async function runNatsKvWatch(
  kv: KV,
  prefix: string,
  feed: WatchFeed,
  options: { ttlMs: number; logger?: Logger },
): Promise<void> {
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
      const { entries, seq } = await readEntries(kv, prefix);
      const now = Date.now();
      const snapshot: DiscoveryEntry[] = [];
      for (const { entry, parsed } of entries) {
        handled.set(parsed.key, entry.revision);
        const writtenAt = Math.min(now, entry.created.getTime());
        if (now - writtenAt > options.ttlMs) continue;
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
      options.logger?.warn("NATS KV discovery: cannot read the snapshot; retrying", {
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
    const parsed = parseEntry(entry);
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
      if (!watching || now - k.seenAt <= options.ttlMs) continue;
      known.delete(key);
      await kv.delete(k.kvKey, { previousSeq: k.revision }).catch(() => {});
      await feed.push({ type: "removed", key });
    }
  };
  const sweeper = (async () => {
    while (!feed.signal.aborted) {
      await sleep(Math.min(1000, options.ttlMs / 3), feed.signal);
      if (!feed.signal.aborted) await exclusive(sweep);
    }
  })();
  try {
    delay = RETRY_MIN_MS;
    while (!feed.signal.aborted) {
      try {
        const updates = await kv.watch({
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
        options.logger?.warn("NATS KV discovery: watch interrupted; resuming", {
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
