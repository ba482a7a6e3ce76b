/**
 * The edge entry: a module whose default export is `{ fetch }`, serving the
 * OpenAI-compatible API with an in-process engine picked from the engine table, as the
 * command line picks it: `SLUICE_ENGINE` is a built-in name (default `sample`) or an engine
 * module, and `SLUICE_ENGINE_ARGS` its flags (split on spaces), read on the first request.
 *
 * With `NATS_SERVER=ws://…` (or `wss://`) it runs no engine: it is a frontend of remote
 * workers (`sluice worker --discovery-backend nats`, anywhere that reaches the same NATS),
 * discovering them through NATS KV and calling them over NATS WebSocket, so a serverless
 * host needs only an outbound WebSocket. `DYN_DISCOVERY_BACKEND`, `DYN_REQUEST_PLANE` and
 * `DYN_EVENT_PLANE` may name other planes (default `nats` for all three).
 *
 *     deno serve --port 8000 -A apps/edge/server.ts
 *     bun apps/edge/server.ts          (Bun serves a default export with `fetch`, port 3000)
 *
 * @module
 */
import { createEdgeHandler, type EdgeHandler } from "../../src/edge/edge_handler.ts";
import {
  createRemoteEdgeHandler,
  isWebSocketNatsServer,
} from "../../src/edge/remote_edge_handler.ts";
import { currentRuntime } from "../../src/runtime/runtime.ts";
import { DEFAULT_ENGINE, resolveEngine } from "../cli/resolve_engine.ts";

let handler: Promise<EdgeHandler> | undefined;

/**
 * The handler: remote workers when `NATS_SERVER` is a WebSocket URL, else the configured
 * engine in process; a failed lookup is retried on the next request.
 */
function edgeHandler(): Promise<EdgeHandler> {
  handler ??= (async () => {
    const env = currentRuntime().env;
    if (isWebSocketNatsServer(env)) return createRemoteEdgeHandler({ env });
    const engine = await resolveEngine(env("SLUICE_ENGINE") || DEFAULT_ENGINE);
    const engineArgs = (env("SLUICE_ENGINE_ARGS") ?? "").split(/\s+/).filter((a) => a !== "");
    return createEdgeHandler({ engine: engine.factory, engineArgs });
  })().catch((error) => {
    handler = undefined;
    throw error;
  });
  return handler;
}

/** The Web-standard handler object. */
export default {
  fetch: async (request: Request): Promise<Response> => (await edgeHandler()).fetch(request),
};
