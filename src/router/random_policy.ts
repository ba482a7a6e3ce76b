/**
 * Random routing: each request picks a worker uniformly at random.
 *
 * @module
 */
import type { RoutableWorker, RouteRequest, RoutingPolicy } from "./routing_policy.ts";

/**
 * Picks uniformly among the candidates.
 *
 * @example
 * ```ts
 * import { RandomPolicy } from "./random_policy.ts";
 * const policy = new RandomPolicy(() => 0.99);
 * const workers = [{ instanceId: "1", inflight: 0 }, { instanceId: "2", inflight: 0 }];
 * console.assert(policy.select(workers, { model: "m" })?.instanceId === "2");
 * ```
 */
export class RandomPolicy implements RoutingPolicy {
  readonly name = "random";
  #random: () => number;

  /**
   * Creates the policy.
   * @param random a source of numbers in `[0, 1)`; `Math.random` by default (injectable for tests).
   */
  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  /** A uniformly random candidate. */
  select<W extends RoutableWorker>(
    candidates: readonly W[],
    _request: RouteRequest,
  ): W | undefined {
    if (candidates.length === 0) return undefined;
    const index = Math.min(candidates.length - 1, Math.floor(this.#random() * candidates.length));
    return candidates[index];
  }
}
