/**
 * Routing over the workers known from discovery: the routing table, the policies
 * (`round-robin`, `random`, `least-loaded`, `direct`) and the router that applies
 * admission and cool-down around them.
 *
 * @module
 */
export { RouterMode } from "./routing_policy.ts";
export type { RoutableWorker, RouteRequest, RoutingPolicy } from "./routing_policy.ts";
export { RoundRobinPolicy } from "./round_robin_policy.ts";
export { RandomPolicy } from "./random_policy.ts";
export { LeastLoadedPolicy } from "./least_loaded_policy.ts";
export { DirectPolicy, WORKER_INSTANCE_HEADER } from "./direct_policy.ts";
export { RoutingTable } from "./routing_table.ts";
export type { RoutingTableOptions, WorkerSlot } from "./routing_table.ts";
export { createRoutingPolicy, DEFAULT_COOLDOWN_MS, WorkerRouter } from "./worker_router.ts";
export type { RoutedStream, RouteOptions, WorkerRouterOptions } from "./worker_router.ts";
