/**
 * The in-process event plane: a bus shared by the handles of one process.
 *
 * @module
 */
import { SluiceError } from "../errors/sluice_error.ts";
import { AsyncQueue } from "../util/async_queue.ts";
import {
  type EventPlane,
  subjectMatches,
  type SubscribeOptions,
  type Subscription,
} from "./event_plane.ts";

/** One subscription registered on an {@linkcode InProcessEventBus}. */
type Subscriber = InProcessEventBus["subscribers"] extends Set<infer S> ? S : never;

/**
 * The shared bus behind one or more {@linkcode InProcessEventPlane} handles: pass one bus
 * to several handles so that they see each other's events.
 */
export class InProcessEventBus {
  /**
   * Open subscriptions: their subject pattern and the queue their events go to. Only
   * {@linkcode InProcessEventPlane} MUST change it, since it also closes and fails the queues.
   */
  readonly subscribers: Set<{ pattern: string; queue: AsyncQueue<unknown> }> = new Set();
}

/**
 * In-process {@linkcode EventPlane}. Events are handed to subscribers as the same object
 * (no copy, for speed): publishers MUST NOT mutate an event after publishing it, and
 * subscribers MUST treat events as read-only.
 *
 * @example
 * ```ts
 * import { InProcessEventPlane } from "./in_process_event_plane.ts";
 * const plane = new InProcessEventPlane();
 * const sub = plane.subscribe("dynamo.backend.kv-events");
 * await plane.publish("dynamo.backend.kv-events", { event_id: 1 });
 * for await (const event of sub) { console.log(event); break; }
 * await plane.close();
 * ```
 */
export class InProcessEventPlane implements EventPlane {
  /** Always `inprocess`. */
  readonly kind = "inprocess";
  #bus: InProcessEventBus;
  #mine = new Set<Subscription>();

  /** Creates a handle on `options.bus`, or on a new bus of its own when absent. */
  constructor(options: { bus?: InProcessEventBus } = {}) {
    this.#bus = options.bus ?? new InProcessEventBus();
  }

  /**
   * Hands `event` to every matching subscriber without waiting. A subscriber whose buffer is
   * full is failed with `Disconnected` and removed, rather than slowing the publisher or
   * losing events silently.
   */
  publish(subject: string, event: unknown): Promise<void> {
    for (const sub of this.#bus.subscribers) {
      if (!subjectMatches(sub.pattern, subject)) continue;
      if (!sub.queue.tryPush(event) && !sub.queue.closed) {
        sub.queue.fail(
          new SluiceError(
            "Disconnected",
            `Cannot deliver event on "${subject}": subscriber fell behind; resubscribe and resync`,
          ),
        );
        this.#bus.subscribers.delete(sub);
      }
    }
    return Promise.resolve();
  }

  /** Subscribes to `subject` (a pattern: `*` one token, `>` the rest). */
  subscribe<T = unknown>(subject: string, options: SubscribeOptions = {}): Subscription<T> {
    const queue = new AsyncQueue<unknown>(options.highWaterMark ?? 4096);
    const subscriber: Subscriber = { pattern: subject, queue };
    this.#bus.subscribers.add(subscriber);
    const close = () => {
      this.#bus.subscribers.delete(subscriber);
      queue.close();
      options.signal?.removeEventListener("abort", close);
      this.#mine.delete(subscription);
      return Promise.resolve();
    };
    const subscription: Subscription<T> = {
      subject,
      close,
      [Symbol.asyncDispose]: close,
      [Symbol.asyncIterator]: () => {
        const it = queue[Symbol.asyncIterator]();
        return {
          next: () => it.next() as Promise<IteratorResult<T, undefined>>,
          return: async () => {
            await close();
            return { done: true, value: undefined };
          },
        };
      },
    };
    this.#mine.add(subscription as Subscription);
    if (options.signal?.aborted) close();
    else options.signal?.addEventListener("abort", close, { once: true });
    return subscription;
  }

  /** Ends every subscription made through this handle; the bus stays usable. Idempotent. */
  async close(): Promise<void> {
    for (const sub of [...this.#mine]) await sub.close();
  }
}
