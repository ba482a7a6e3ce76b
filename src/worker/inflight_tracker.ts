/**
 * Counts requests in flight and lets shutdown wait until none are left.
 *
 * @module
 */

/**
 * An in-flight counter with an idle barrier.
 *
 * @example
 * ```ts
 * import { InflightTracker } from "./inflight_tracker.ts";
 * const t = new InflightTracker();
 * const done = t.begin();
 * const idle = t.idle();
 * done();
 * await idle;
 * ```
 */
export class InflightTracker {
  #count = 0;
  #waiters: (() => void)[] = [];
  /** Time of the last begin or end (ms, `performance.now()`). */
  lastActivity: number = performance.now();

  /** Requests in flight. */
  get count(): number {
    return this.#count;
  }

  /** Marks one request as started; call the returned function exactly once when it ends. */
  begin(): () => void {
    this.#count++;
    this.lastActivity = performance.now();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#count--;
      this.lastActivity = performance.now();
      if (this.#count === 0) {
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const w of waiters) w();
      }
    };
  }

  /** Resolves when no request is in flight (at once if none is). */
  idle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
