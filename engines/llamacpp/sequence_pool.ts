/**
 * The sequences of one llama.cpp context as a pool of slots: a request leases a free sequence
 * (preferring the one whose cached tokens share the longest prefix with its prompt, so
 * llama.cpp reuses that KV), or waits in a bounded FIFO queue, or is refused with the worker's
 * "busy" error when the queue is full. A waiting request whose signal aborts leaves the queue.
 *
 * @module
 */
import { SluiceError } from "../../src/errors/sluice_error.ts";

/** What the pool needs from a sequence. */
export interface PooledSequence {
  /** Index of the first token of `tokens` that differs from the sequence's cached tokens. */
  compareContextTokens(tokens: number[]): { firstDifferentIndex: number };
}

/** A leased sequence; `release` MUST be called exactly once. */
export interface SequenceLease<S> {
  readonly sequence: S;
  release(): void;
}

interface Waiter<S> {
  resolve(lease: SequenceLease<S> | undefined): void;
  prompt: number[];
}

/** A pool of sequences with a bounded wait queue. */
export class SequencePool<S extends PooledSequence> {
  #free: S[];
  #busy = 0;
  #waiters: Waiter<S>[] = [];
  #maxQueue: number;

  constructor(sequences: readonly S[], maxQueue: number) {
    this.#free = [...sequences];
    this.#maxQueue = maxQueue;
  }

  /** Sequences generating now. */
  get running(): number {
    return this.#busy;
  }

  /** Requests waiting for a sequence. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Leases a sequence for `prompt`; resolves `undefined` when `signal` aborts while waiting.
   * @throws {SluiceError} `EngineShutdown` (`worker_overloaded`) when every sequence is busy
   * and the wait queue is full.
   */
  acquire(prompt: number[], signal: AbortSignal): Promise<SequenceLease<S> | undefined> {
    if (signal.aborted) return Promise.resolve(undefined);
    if (this.#free.length > 0) return Promise.resolve(this.#lease(this.#take(prompt)));
    if (this.#waiters.length >= this.#maxQueue) {
      return Promise.reject(
        new SluiceError(
          "EngineShutdown",
          `Cannot accept request: worker overloaded (every sequence is busy and ` +
            `${this.#waiters.length} requests are waiting)`,
          { code: "worker_overloaded" },
        ),
      );
    }
    return new Promise((resolve) => {
      const waiter: Waiter<S> = {
        prompt,
        resolve: (lease) => {
          signal.removeEventListener("abort", onAbort);
          resolve(lease);
        },
      };
      const onAbort = () => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        waiter.resolve(undefined);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #take(prompt: number[]): S {
    let best = 0;
    let bestLength = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const length = this.#free[i].compareContextTokens(prompt).firstDifferentIndex;
      if (length > bestLength) [best, bestLength] = [i, length];
    }
    return this.#free.splice(best, 1)[0];
  }

  #lease(sequence: S): SequenceLease<S> {
    this.#busy++;
    let released = false;
    return {
      sequence,
      release: () => {
        if (released) return;
        released = true;
        this.#busy--;
        this.#free.push(sequence);
        const next = this.#waiters.shift();
        if (next !== undefined) next.resolve(this.#lease(this.#take(next.prompt)));
      },
    };
  }
}
