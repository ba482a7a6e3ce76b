/**
 * Direct routing: the client names the worker instance in the
 * `x-worker-instance-id` header (decimal instance id, as `/health` lists it).
 *
 * @module
 */
import type { RoutableWorker, RouteRequest, RoutingPolicy } from "./routing_policy.ts";

/** The request header that names the target instance. */
export const WORKER_INSTANCE_HEADER = "x-worker-instance-id";

/**
 * Picks the candidate whose `instanceId` equals `request.instanceId`; `undefined` when the
 * request names none or the named one is not a candidate. It never falls back to another
 * worker: a client that asks for one instance gets that one or an error.
 *
 * @example
 * ```ts
 * import { DirectPolicy } from "./direct_policy.ts";
 * const policy = new DirectPolicy();
 * const workers = [{ instanceId: "7", inflight: 0 }, { instanceId: "9", inflight: 0 }];
 * console.assert(policy.select(workers, { model: "m", instanceId: "9" })?.instanceId === "9");
 * ```
 */
export class DirectPolicy implements RoutingPolicy {
  readonly name = "direct";
  readonly targetsInstance = true;

  /** The candidate whose instance id is the request's; none without one. */
  select<W extends RoutableWorker>(candidates: readonly W[], request: RouteRequest): W | undefined {
    if (request.instanceId === undefined) return undefined;
    for (const candidate of candidates) {
      if (candidate.instanceId === request.instanceId) return candidate;
    }
    return undefined;
  }
}
