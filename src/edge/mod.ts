/**
 * The edge / serverless `{ fetch }` forms: the embedded default (engine in process), and a
 * frontend of remote workers over NATS (WebSocket).
 *
 * @module
 */
export { createEdgeHandler } from "./edge_handler.ts";
export type { EdgeHandler, EdgeHandlerOptions } from "./edge_handler.ts";
export {
  createRemoteEdgeHandler,
  EDGE_PLANES,
  isWebSocketNatsServer,
} from "./remote_edge_handler.ts";
export type { RemoteEdgeHandlerOptions } from "./remote_edge_handler.ts";
