/**
 * The three planes a worker needs, and how `run()` connects them from a
 * `WorkerConfig`. Backends are looked up by name in an injected table; the built-in
 * discovery backends (`memory`, `file`, `etcd`, `nats`) load their clients on first use.
 *
 * @module
 */
import { SluiceError, toSluiceError } from "../errors/sluice_error.ts";
import type { WorkerConfig } from "../engine/worker_config.ts";
import type { Discovery } from "../discovery/discovery.ts";
import { discoveryConnectors } from "../discovery/discovery_connectors.ts";
import type { EventPlane } from "../event_plane/event_plane.ts";
import { InProcessEventPlane } from "../event_plane/in_process_event_plane.ts";
import type { RequestPlane } from "../request_plane/request_plane.ts";
import { InProcessRequestPlane } from "../request_plane/in_process_request_plane.ts";

/** Connected planes. */
export interface Planes {
  /** Service discovery. */
  discovery: Discovery;
  /** Requests and token streams. */
  requestPlane: RequestPlane;
  /** KV events and load metrics. */
  eventPlane: EventPlane;
}

/** Connectors by backend name; each may read its own settings from `env`. */
export interface PlaneConnectors {
  /** By `discovery_backend` name. */
  discovery: Record<string, (env: (name: string) => string | undefined) => Promise<Discovery>>;
  /** By `request_plane` name. */
  requestPlane: Record<
    string,
    (env: (name: string) => string | undefined) => Promise<RequestPlane>
  >;
  /** By `event_plane` name. */
  eventPlane: Record<string, (env: (name: string) => string | undefined) => Promise<EventPlane>>;
}

/**
 * The built-in connectors: process-local planes (the embedded default); the discovery
 * backends `file`, `etcd` and `nats` (see `discovery_connectors.ts`); and `nats` request and
 * event planes (`NATS_SERVER`, default `nats://127.0.0.1:4222`; `ws://` or `wss://` for
 * WebSocket). Each backend's client is imported only when it connects.
 */
export function builtinConnectors(
  options: { unrefTimer?(timer: ReturnType<typeof setTimeout>): void } = {},
): PlaneConnectors {
  return {
    discovery: discoveryConnectors(options),
    requestPlane: {
      inprocess: () => Promise.resolve(new InProcessRequestPlane()),
      nats: async (env) =>
        (await import("../request_plane/nats_request_plane.ts")).connectNatsRequestPlane(env),
    },
    eventPlane: {
      inprocess: () => Promise.resolve(new InProcessEventPlane()),
      nats: async (env) =>
        (await import("../event_plane/nats_event_plane.ts")).connectNatsEventPlane(env),
    },
  };
}

/**
 * Connects the planes named in `config`.
 * @throws {SluiceError} `InvalidArgument` for an unknown backend name, `CannotConnect` when one fails.
 */
export async function connectPlanes(
  config: Pick<WorkerConfig, "discovery_backend" | "request_plane" | "event_plane">,
  env: (name: string) => string | undefined,
  connectors: PlaneConnectors = builtinConnectors(),
): Promise<Planes> {
  const pick = <T>(table: Record<string, T>, name: string, what: string): T => {
    const found = table[name];
    if (found === undefined) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot connect ${what} "${name}": known backends are ${Object.keys(table).join(", ")}`,
      );
    }
    return found;
  };
  const connect = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      const typed = toSluiceError(error);
      if (typed.kind === "CannotConnect" || typed.kind === "InvalidArgument") throw typed;
      throw new SluiceError("CannotConnect", `Cannot connect ${what}: ${typed.message}`, {
        cause: error,
      });
    }
  };
  const discoveryFn = pick(connectors.discovery, config.discovery_backend, "discovery");
  const requestFn = pick(connectors.requestPlane, config.request_plane, "request plane");
  const eventFn = pick(connectors.eventPlane, config.event_plane, "event plane");
  const discovery = await connect("discovery", () => discoveryFn(env));
  try {
    const requestPlane = await connect("request plane", () => requestFn(env));
    try {
      const eventPlane = await connect("event plane", () => eventFn(env));
      return { discovery, requestPlane, eventPlane };
    } catch (error) {
      await requestPlane.close();
      throw error;
    }
  } catch (error) {
    await discovery.close();
    throw error;
  }
}

/** Closes every plane, logging nothing and never throwing. */
export async function closePlanes(planes: Planes): Promise<void> {
  await Promise.allSettled([planes.requestPlane.close(), planes.eventPlane.close()]);
  await planes.discovery.close().catch(() => {});
}
