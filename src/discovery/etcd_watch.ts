/**
 * An etcd watch of one prefix that never loses an event: range (snapshot and its
 * revision), then a gateway watch stream from revision + 1; when the stream
 * breaks, it resumes from the revision after the last event seen. When etcd has
 * compacted that revision away, it ranges again and emits the difference to what
 * the watcher already knows, so the watcher still ends up exact.
 *
 * @module
 */
import type { Logger } from "../logging/logger.ts";
import type { DiscoveryEntry } from "./discovery.ts";
import {
  type EtcdGateway,
  type EtcdKv,
  fromBase64,
  prefixRangeEnd,
  toBase64,
  WatchMessageSchema,
} from "./etcd_gateway.ts";
import { sleep, type WatchFeed } from "./queue_watch.ts";

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2000;

function decode(kv: EtcdKv, logger?: Logger): DiscoveryEntry | undefined {
  const key = fromBase64(kv.key);
  try {
    return { key, value: JSON.parse(fromBase64(kv.value ?? "")) };
  } catch {
    logger?.warn("etcd discovery: ignoring a value that is not JSON", { key });
    return undefined;
  }
}

/** Streams one watch; returns normally when the stream ends or breaks, throws on abort. */
async function streamOnce(
  gateway: EtcdGateway,
  prefix: string,
  state: { from: bigint; known: Map<string, string> },
  feed: WatchFeed,
  logger?: Logger,
): Promise<"broken" | "compacted"> {
  const res = await gateway.open("/v3/watch", {
    create_request: {
      key: toBase64(prefix),
      range_end: prefixRangeEnd(prefix),
      start_revision: state.from.toString(),
    },
  }, feed.signal);
  if (!res.ok || res.body === null) {
    await res.body?.cancel();
    return "broken";
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  try {
    while (!feed.signal.aborted) {
      const { done, value } = await reader.read();
      if (done) return "broken";
      buffered += value;
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line === "") continue;
        const parsed = WatchMessageSchema.safeParse(JSON.parse(line));
        if (!parsed.success || parsed.data.result === undefined) {
          logger?.warn("etcd discovery: unexpected watch message; resuming", {
            prefix,
            message: line.slice(0, 200),
          });
          return "broken";
        }
        const result = parsed.data.result;
        if (result.compact_revision !== undefined && result.compact_revision !== "0") {
          return "compacted";
        }
        if (result.canceled) {
          logger?.warn("etcd discovery: watch canceled by etcd; resuming", {
            prefix,
            reason: result.cancel_reason,
          });
          return "broken";
        }
        for (const event of result.events ?? []) {
          const key = fromBase64(event.kv.key);
          if (event.type === "DELETE") {
            if (state.known.delete(key)) await feed.push({ type: "removed", key });
          } else {
            const entry = decode(event.kv, logger);
            if (entry !== undefined) {
              state.known.set(key, event.kv.value ?? "");
              await feed.push({ type: "added", entry });
            }
          }
          const rev = BigInt(event.kv.mod_revision ?? "0");
          if (rev >= state.from) state.from = rev + 1n;
        }
      }
    }
    return "broken";
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** Ranges `prefix`; emits a snapshot (first time) or the difference to `known` (resync). */
async function rangeAndEmit(
  gateway: EtcdGateway,
  prefix: string,
  state: { from: bigint; known: Map<string, string> },
  feed: WatchFeed,
  first: boolean,
  logger?: Logger,
): Promise<void> {
  const { kvs, revision } = await gateway.range(prefix, feed.signal);
  const now = new Map<string, EtcdKv>();
  for (const kv of kvs) now.set(fromBase64(kv.key), kv);
  if (first) {
    const entries: DiscoveryEntry[] = [];
    for (const kv of kvs) {
      const entry = decode(kv, logger);
      if (entry === undefined) continue;
      entries.push(entry);
      state.known.set(entry.key, kv.value ?? "");
    }
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    await feed.push({ type: "snapshot", entries });
  } else {
    for (const key of [...state.known.keys()]) {
      if (!now.has(key)) {
        state.known.delete(key);
        await feed.push({ type: "removed", key });
      }
    }
    for (const [key, kv] of now) {
      if (state.known.get(key) === (kv.value ?? "")) continue;
      const entry = decode(kv, logger);
      if (entry === undefined) continue;
      state.known.set(key, kv.value ?? "");
      await feed.push({ type: "added", entry });
    }
  }
  state.from = BigInt(revision) + 1n;
}

/**
 * Feeds `feed` with the snapshot and changes under `prefix` until the feed's signal fires.
 * Connection failures are retried with backoff (and logged), never surfaced as lost events.
 */
export async function runEtcdWatch(
  gateway: EtcdGateway,
  prefix: string,
  feed: WatchFeed,
  logger?: Logger,
): Promise<void> {
  const state = { from: 0n, known: new Map<string, string>() };
  let synced = false;
  let first = true;
  let delay = RETRY_MIN_MS;
  while (!feed.signal.aborted) {
    try {
      if (!synced) {
        await rangeAndEmit(gateway, prefix, state, feed, first, logger);
        first = false;
        synced = true;
      }
      const outcome = await streamOnce(gateway, prefix, state, feed, logger);
      if (outcome === "compacted") synced = false;
      delay = RETRY_MIN_MS;
    } catch (error) {
      if (feed.signal.aborted) return;
      logger?.warn("etcd discovery: watch interrupted; resuming", {
        prefix,
        from_revision: state.from.toString(),
        error: String(error),
      });
    }
    await sleep(delay, feed.signal);
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  }
}
