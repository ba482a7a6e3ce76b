/**
 * The plane flags shared by `sluice worker` (and `run()`) and `sluice frontend`:
 * `--discovery-backend`, `--request-plane`, `--event-plane`, `--nats-server`, with the
 * environment variables Dynamo uses (`DYN_DISCOVERY_BACKEND`, `DYN_REQUEST_PLANE`,
 * `DYN_EVENT_PLANE`, `NATS_SERVER`). Outside `sluice serve` the defaults are Dynamo's
 * distributed ones (etcd discovery, NATS request and event planes), so a standalone
 * process never silently sits on planes nothing else can reach.
 *
 * @module
 */
import type { ParseArgsConfig } from "node:util";
import { takeFlags } from "../engine/take_flags.ts";
import { SluiceError } from "../errors/sluice_error.ts";
import type { WorkerConfig } from "../engine/worker_config.ts";
import {
  DEFAULT_ETCD_ENDPOINTS,
  discoveryBackendName,
  type EnvReader,
} from "../discovery/discovery_connectors.ts";

/** `NATS_SERVER`'s default (as `src/wire/nats_connection.ts`, without loading the client). */
const DEFAULT_NATS_SERVER = "nats://127.0.0.1:4222";

/** The plane flags (without `--`). */
export const PLANE_OPTIONS = {
  "discovery-backend": { type: "string" },
  "request-plane": { type: "string" },
  "event-plane": { type: "string" },
  "nats-server": { type: "string" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

/** The name of a plane flag. */
export type PlaneFlag = keyof typeof PLANE_OPTIONS;

/** The plane names a process uses. */
export type PlaneNames = Pick<WorkerConfig, "discovery_backend" | "request_plane" | "event_plane">;

/** Dynamo's defaults for a process outside `sluice serve`: etcd discovery, NATS planes. */
export const DISTRIBUTED_PLANES: Readonly<PlaneNames> = Object.freeze({
  discovery_backend: "etcd",
  request_plane: "nats",
  event_plane: "nats",
});

/** The plane flags and environment, as `--help` prints them. */
export const PLANE_FLAGS_HELP: string = `Plane flags:
  --discovery-backend NAME         memory | file | etcd | nats (default: $DYN_DISCOVERY_BACKEND, else etcd;
                                   etcd reads ETCD_ENDPOINTS, default http://127.0.0.1:2379)
  --request-plane NAME             inprocess | nats (default: $DYN_REQUEST_PLANE, else nats)
  --event-plane NAME               inprocess | nats (default: $DYN_EVENT_PLANE, else nats)
  --nats-server URL                nats://HOST:PORT or ws(s)://HOST:PORT (default: $NATS_SERVER,
                                   else nats://127.0.0.1:4222)`;

/**
 * Takes the plane flags (`--flag value` or `--flag=value`) out of `argv`; the rest keeps its
 * order (the engine parses it).
 * @throws {SluiceError} `InvalidArgument` when a plane flag has no value.
 */
export function takePlaneFlags(
  argv: string[],
): { planes: Partial<Record<PlaneFlag, string>>; rest: string[] } {
  const { values, rest } = takeFlags(argv, PLANE_OPTIONS);
  return { planes: values, rest };
}

function planeName(
  flag: string | undefined,
  env: string | undefined,
  fallback: string,
  what: string,
) {
  const name = flag ?? (env === "" ? undefined : env) ?? fallback;
  if (!/^[a-z0-9_-]+$/.test(name)) {
    throw new SluiceError("InvalidArgument", `Cannot use ${what} "${name}"`, {
      param: `--${what}`,
    });
  }
  return name;
}

/**
 * The plane names: each flag when given, else its environment variable, else `fallback`'s
 * (by default {@linkcode DISTRIBUTED_PLANES}).
 * @throws {SluiceError} `InvalidArgument` for a name outside `[a-z0-9_-]`.
 */
export function resolvePlaneNames(
  planes: Partial<Record<PlaneFlag, string>>,
  env: EnvReader,
  fallback: Partial<PlaneNames> = {},
): PlaneNames {
  const defaults = { ...DISTRIBUTED_PLANES, ...fallback };
  const discoveryEnv = env("DYN_DISCOVERY_BACKEND");
  return {
    discovery_backend: discoveryBackendName(
      planes["discovery-backend"],
      (name) => name === "DYN_DISCOVERY_BACKEND" && discoveryEnv === "" ? undefined : env(name),
      defaults.discovery_backend,
    ),
    request_plane: planeName(
      planes["request-plane"],
      env("DYN_REQUEST_PLANE"),
      defaults.request_plane,
      "request-plane",
    ),
    event_plane: planeName(
      planes["event-plane"],
      env("DYN_EVENT_PLANE"),
      defaults.event_plane,
      "event-plane",
    ),
  };
}

/** `env` with `NATS_SERVER` replaced by `--nats-server` when that flag was given. */
export function planeEnv(planes: Partial<Record<PlaneFlag, string>>, env: EnvReader): EnvReader {
  const natsServer = planes["nats-server"];
  if (natsServer === undefined) return env;
  return (name) => name === "NATS_SERVER" ? natsServer : env(name);
}

/** Where each plane connects, for the startup log line (`etcd http://…`, `nats nats://…`). */
export function planeAddresses(names: PlaneNames, env: EnvReader): string {
  const nats = env("NATS_SERVER") || DEFAULT_NATS_SERVER;
  const where = (name: string, kind: "discovery" | "plane") => {
    if (name === "nats") return `nats ${nats}`;
    if (kind === "discovery" && name === "etcd") {
      return `etcd ${env("ETCD_ENDPOINTS") || DEFAULT_ETCD_ENDPOINTS}`;
    }
    if (kind === "discovery" && name === "file") {
      return `file ${env("DYN_FILE_KV") || "(temp dir)"}`;
    }
    return name;
  };
  return `discovery ${where(names.discovery_backend, "discovery")}, request plane ${
    where(names.request_plane, "plane")
  }, event plane ${where(names.event_plane, "plane")}`;
}
