/**
 * The plumbing every {@linkcode DiscoveryWatch} shares: a bounded queue of events
 * (back-pressure, never silent loss), closing by `close()`, `signal`, leaving the
 * loop early or disposal, and a producer that learns it must stop.
 *
 * @module
 */
import { AsyncQueue } from "../util/async_queue.ts";
import type { DiscoveryEvent, DiscoveryWatch, WatchOptions } from "./discovery.ts";

/** What a backend's watch producer gets. */
export interface WatchFeed {
  /** Delivers an event, waiting while the consumer lags; rejects once the watch closed. */
  push(event: DiscoveryEvent): Promise<void>;
  /** Ends the watch with an error the consumer sees after the buffered events. */
  fail(error: unknown): void;
  /** Fires when the watch closes; the producer MUST stop and release what it holds. */
  readonly signal: AbortSignal;
}

/**
 * Creates a watch fed by `produce`. The producer runs until the watch closes; when it
 * returns or throws on its own, the watch ends (with its error, if any).
 * `onClosed` runs once after close (e.g. to forget the watch in its backend).
 */
export function queueWatch<V>(
  options: WatchOptions,
  produce: (feed: WatchFeed) => Promise<void>,
  onClosed?: () => void,
): DiscoveryWatch<V> {
  const queue = new AsyncQueue<DiscoveryEvent>(options.highWaterMark ?? 1024);
  const controller = new AbortController();
  let closed = false;
  let producing: Promise<void> = Promise.resolve();
  const close = async () => {
    if (!closed) {
      closed = true;
      controller.abort();
      queue.close();
      options.signal?.removeEventListener("abort", onAbort);
      onClosed?.();
    }
    await producing;
  };
  const onAbort = () => void close();
  const feed: WatchFeed = {
    push: (event) => queue.push(event),
    fail: (error) => queue.fail(error),
    signal: controller.signal,
  };
  producing = produce(feed).then(
    () => queue.close(),
    (error) => {
      if (!controller.signal.aborted) queue.fail(error);
    },
  );
  // Deferred, so the caller can record the watch before `onClosed` forgets it.
  if (options.signal?.aborted) queueMicrotask(() => void close());
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => queue.next() as Promise<IteratorResult<DiscoveryEvent<V>, undefined>>,
      return: async () => {
        await close();
        return { done: true, value: undefined };
      },
    }),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Sleeps `ms`, waking early (without error) when `signal` fires. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
