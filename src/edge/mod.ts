/**
 * The edge / serverless `{ fetch }` form of the embedded default.
 *
 * @module
 */
export { createEdgeHandler } from "./edge_handler.ts";
export type { EdgeHandler, EdgeHandlerOptions } from "./edge_handler.ts";
