/**
 * The edge `{ fetch }` as a frontend of remote workers: no engine in this isolate. On the
 * first request it connects the distributed planes (by default NATS KV discovery and NATS
 * request and event planes, over the `NATS_SERVER` URL; `ws://` / `wss://` for hosts that
 * only allow outbound WebSockets) and serves the OpenAI API from the workers it discovers.
 *
 * @module
 */
import { createFrontend, type Frontend, type FrontendOptions } from "../frontend/frontend_app.ts";
import { errorResponse, httpErrorFrom } from "../frontend/openai_error.ts";
import { createLogger, type Logger } from "../logging/logger.ts";
import {
  builtinConnectors,
  closePlanes,
  connectPlanes,
  type PlaneConnectors,
  type Planes,
} from "../worker/planes.ts";
import { resolvePlaneNames } from "../worker/plane_flags.ts";
import type { EdgeHandler } from "./edge_handler.ts";

/** The planes an edge frontend uses unless the environment names others: all on NATS. */
export const EDGE_PLANES: Readonly<
  { discovery_backend: string; request_plane: string; event_plane: string }
> = Object.freeze({
  discovery_backend: "nats",
  request_plane: "nats",
  event_plane: "nats",
});

/** Options for {@linkcode createRemoteEdgeHandler}. */
export interface RemoteEdgeHandlerOptions
  extends Omit<FrontendOptions, "discovery" | "requestPlane" | "eventPlane" | "logger"> {
  /**
   * Settings: `NATS_SERVER` (the address), and optionally `DYN_DISCOVERY_BACKEND`,
   * `DYN_REQUEST_PLANE`, `DYN_EVENT_PLANE` over {@linkcode EDGE_PLANES}.
   */
  env: (name: string) => string | undefined;
  /** Plane backends by name (default `builtinConnectors()`). */
  connectors?: PlaneConnectors;
  /** Logger; warnings only by default. */
  logger?: Logger;
}

/**
 * Creates the handler. Nothing connects until the first request; a failed connection is
 * not cached: that request gets a 503 OpenAI error naming the address (`CannotConnect`),
 * the next one tries again. `shutdown()` MUST
 * close the frontend and every plane it connected.
 *
 * @example
 * ```ts ignore
 * export default createRemoteEdgeHandler({ env: (name) => Deno.env.get(name) });
 * ```
 */
export function createRemoteEdgeHandler(options: RemoteEdgeHandlerOptions): EdgeHandler {
  const logger = options.logger ?? createLogger({ level: "warn" });
  let started: Promise<{ planes: Planes; frontend: Frontend }> | undefined;
  const start = () => {
    started ??= (async () => {
      const names = resolvePlaneNames({}, options.env, EDGE_PLANES);
      const planes = await connectPlanes(
        names,
        options.env,
        options.connectors ?? builtinConnectors(),
      );
      try {
        const frontend = await createFrontend({
          ...options,
          logger,
          discovery: planes.discovery,
          requestPlane: planes.requestPlane,
          eventPlane: planes.eventPlane,
        });
        return { planes, frontend };
      } catch (error) {
        await closePlanes(planes);
        throw error;
      }
    })().catch((error) => {
      started = undefined;
      throw error;
    });
    return started;
  };
  return {
    async fetch(request) {
      let frontend: Frontend;
      try {
        ({ frontend } = await start());
      } catch (error) {
        logger.error("cannot connect the edge frontend", { error: String(error) });
        return errorResponse(httpErrorFrom(error));
      }
      return await frontend.fetch(request);
    },
    async shutdown() {
      const running = started;
      started = undefined;
      if (running === undefined) return;
      const { planes, frontend } = await running;
      await frontend.close();
      await closePlanes(planes);
    },
  };
}

/** Whether `NATS_SERVER` names a WebSocket server (`ws://` or `wss://`): the remote edge mode. */
export function isWebSocketNatsServer(env: (name: string) => string | undefined): boolean {
  return /^wss?:\/\//i.test(env("NATS_SERVER")?.trim() ?? "");
}
