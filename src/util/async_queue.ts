/**
 * A bounded async queue with back-pressure: producers `await push()` while it
 * is full; one consumer iterates it. Nothing is dropped silently.
 *
 * @module
 */

/**
 * A single-consumer bounded queue.
 *
 * @example
 * ```ts
 * import { AsyncQueue } from "./async_queue.ts";
 * const q = new AsyncQueue<number>(2);
 * await q.push(1);
 * q.close();
 * for await (const x of q) console.log(x);
 * ```
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #capacity: number;
  #closed = false;
  #error: unknown = undefined;
  #failed = false;
  #consumerWaiting: (() => void) | undefined;
  #producersWaiting: (() => void)[] = [];

  /**
   * Creates an empty queue. The bound is what keeps a fast producer from growing memory
   * without limit.
   * @param capacity the most items held before `push` waits; MUST be an integer ≥ 1.
   * @throws {RangeError} for any other capacity.
   */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot create queue: capacity must be a positive integer, got ${capacity}`,
      );
    }
    this.#capacity = capacity;
  }

  /** Items currently buffered. */
  get size(): number {
    return this.#items.length;
  }

  /** True after `close()` or `fail()`. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Adds an item, waiting while the queue is full.
   * @throws {TypeError} when the queue is closed (the consumer went away).
   */
  async push(item: T): Promise<void> {
    while (this.#items.length >= this.#capacity && !this.#closed) {
      await new Promise<void>((resolve) => this.#producersWaiting.push(resolve));
    }
    if (this.#closed) throw new TypeError("Cannot push: queue is closed");
    this.#items.push(item);
    this.#wakeConsumer();
  }

  /** Adds an item if there is room; returns false when full or closed. */
  tryPush(item: T): boolean {
    if (this.#closed || this.#items.length >= this.#capacity) return false;
    this.#items.push(item);
    this.#wakeConsumer();
    return true;
  }

  /** Ends the queue: the consumer drains what is buffered, then finishes. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeConsumer();
    this.#wakeProducers();
  }

  /** Ends the queue with an error, thrown to the consumer after buffered items. */
  fail(error: unknown): void {
    if (this.#closed) return;
    this.#failed = true;
    this.#error = error;
    this.close();
  }

  /** Takes the next item; `undefined` done-marker when closed and empty. */
  async next(): Promise<IteratorResult<T, undefined>> {
    while (this.#items.length === 0) {
      if (this.#closed) {
        if (this.#failed) throw this.#error;
        return { done: true, value: undefined };
      }
      await new Promise<void>((resolve) => (this.#consumerWaiting = resolve));
    }
    const value = this.#items.shift() as T;
    this.#wakeProducers();
    return { done: false, value };
  }

  /**
   * Iterates the items. There MUST be at most one consumer: items are taken, not shared.
   * Leaving the loop early (`break`) closes the queue and discards what is buffered, so
   * waiting producers fail instead of blocking forever.
   */
  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    return {
      next: () => this.next(),
      return: () => {
        this.close();
        this.#items.length = 0;
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  #wakeConsumer(): void {
    const wake = this.#consumerWaiting;
    this.#consumerWaiting = undefined;
    wake?.();
  }

  #wakeProducers(): void {
    const waiting = this.#producersWaiting;
    this.#producersWaiting = [];
    for (const wake of waiting) wake();
  }
}
