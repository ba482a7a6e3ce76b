/**
 * Round-robin routing (the default): workers take turns.
 *
 * @module
 */
import type { RoutableWorker, RouteRequest, RoutingPolicy } from "./routing_policy.ts";

/**
 * Cycles through the candidates. The counter is shared across models and survives
 * changes of the candidate set, so a worker that joins starts taking turns at once.
 *
 * @example
 * ```ts
 * import { RoundRobinPolicy } from "./round_robin_policy.ts";
 * const policy = new RoundRobinPolicy();
 * const workers = [{ instanceId: "1", inflight: 0 }, { instanceId: "2", inflight: 0 }];
 * const picks = [0, 1, 2].map(() => policy.select(workers, { model: "m" })?.instanceId);
 * console.assert(picks.join() === "1,2,1");
 * ```
 */
export class RoundRobinPolicy implements RoutingPolicy {
  readonly name = "round-robin";
  #next = 0;

  /** The next candidate in turn. */
  select<W extends RoutableWorker>(
    candidates: readonly W[],
    _request: RouteRequest,
  ): W | undefined {
    if (candidates.length === 0) return undefined;
    const index = this.#next % candidates.length;
    this.#next = (this.#next + 1) % 0x40000000;
    return candidates[index];
  }
}
