/**
 * The routing-policy interface: given the workers that may take a request now,
 * pick one. Policies are pure choosers; the {@linkcode WorkerRouter} does the
 * filtering (cool-down, admission) and the accounting around them.
 *
 * @module
 */

/** A worker as a policy sees it. */
export interface RoutableWorker {
  /** Decimal 64-bit instance id (never a JS number). */
  readonly instanceId: string;
  /** Requests this frontend has in flight on the worker. */
  readonly inflight: number;
  /** The worker's model card, when known (KV routing reads `kv_cache_block_size`). */
  readonly card?: { readonly kv_cache_block_size?: number };
}

/** What a policy knows about the request being routed. */
export interface RouteRequest {
  /** The served model name. */
  readonly model: string;
  /** The instance the client asked for (header `x-worker-instance-id`), if any. */
  readonly instanceId?: string;
  /** Prompt token ids, for policies that look at the prompt. */
  readonly tokenIds?: readonly number[];
}

/**
 * Chooses a worker.
 *
 * `select` MUST return one of `candidates` or `undefined`, MUST NOT mutate them, and
 * MUST be synchronous and cheap: it runs on every request. `candidates` is never empty
 * and contains only workers that are out of cool-down and under their in-flight limit.
 *
 * @example
 * ```ts
 * import type { RoutingPolicy } from "./routing_policy.ts";
 * const first: RoutingPolicy = { name: "first", select: (candidates) => candidates[0] };
 * console.assert(first.select([{ instanceId: "1", inflight: 0 }], { model: "m" })?.instanceId === "1");
 * ```
 */
export interface RoutingPolicy {
  /** The mode name (`round-robin`, `random`, `least-loaded`, `direct`, `kv`). */
  readonly name: string;
  /**
   * True when the policy targets one instance named by the request: then an unknown or
   * busy target is reported as such instead of falling back to another worker.
   */
  readonly targetsInstance?: boolean;
  /** Picks one of `candidates` (all ready and under their limit) for `request`, or none. MUST NOT mutate `candidates`. */
  select<W extends RoutableWorker>(candidates: readonly W[], request: RouteRequest): W | undefined;
  /**
   * Called once when `worker` accepted `request` (the same object `select` saw), so a
   * policy can count what the worker holds. MUST be cheap and MUST NOT throw.
   */
  routed?(worker: RoutableWorker, request: RouteRequest): void;
  /** Called once when a routed request ended (any way); pairs with `routed`. MUST NOT throw. */
  released?(worker: RoutableWorker, request: RouteRequest): void;
}

/** The router modes Sluice ships, as `--router-mode` spells them. */
export const RouterMode = {
  roundRobin: "round-robin",
  random: "random",
  leastLoaded: "least-loaded",
  direct: "direct",
  kv: "kv",
} as const;

/** One of the values of {@linkcode RouterMode}. */
export type RouterMode = typeof RouterMode[keyof typeof RouterMode];
