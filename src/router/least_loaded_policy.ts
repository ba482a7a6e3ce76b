/**
 * Least-loaded routing: the worker with the fewest requests in flight (from this
 * frontend) wins; ties rotate so equal workers share the load.
 *
 * @module
 */
import type { RoutableWorker, RouteRequest, RoutingPolicy } from "./routing_policy.ts";

/**
 * Picks the candidate with the lowest `inflight`. Among ties it starts the scan at a
 * rotating offset, so a burst of requests on idle workers spreads instead of piling
 * onto the first one.
 *
 * @example
 * ```ts
 * import { LeastLoadedPolicy } from "./least_loaded_policy.ts";
 * const policy = new LeastLoadedPolicy();
 * const workers = [{ instanceId: "1", inflight: 3 }, { instanceId: "2", inflight: 1 }];
 * console.assert(policy.select(workers, { model: "m" })?.instanceId === "2");
 * ```
 */
export class LeastLoadedPolicy implements RoutingPolicy {
  readonly name = "least-loaded";
  #offset = 0;

  /** The candidate with the fewest requests in flight (ties rotate). */
  select<W extends RoutableWorker>(
    candidates: readonly W[],
    _request: RouteRequest,
  ): W | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    const start = this.#offset % n;
    this.#offset = (this.#offset + 1) % 0x40000000;
    let best = candidates[start];
    for (let i = 1; i < n; i++) {
      const candidate = candidates[(start + i) % n];
      if (candidate.inflight < best.inflight) best = candidate;
    }
    return best;
  }
}
