/**
 * The discovery backends by name, each reading its settings from the environment:
 *
 * | backend | settings |
 * |---|---|
 * | `memory` | none (process-local) |
 * | `file` | `DYN_FILE_KV` directory (default `sluice-file-kv` in the system temp dir) |
 * | `etcd` | `ETCD_ENDPOINTS` (comma-separated, default `http://127.0.0.1:2379`) |
 * | `nats` | `NATS_SERVER` (`nats://` or `ws(s)://`, default `nats://127.0.0.1:4222`), `DYN_DISCOVERY_BUCKET` (default `sluice_discovery`) |
 *
 * All remote backends take `DYN_DISCOVERY_TTL_SECS` (liveness TTL, default 10).
 * `DYN_DISCOVERY_BACKEND` picks the backend where no flag does. The remote backends are
 * imported on first use, so a process on `memory` never loads the NATS client.
 *
 * @module
 */
import { SluiceError } from "../errors/sluice_error.ts";
import type { Logger } from "../logging/logger.ts";
import type { Discovery } from "./discovery.ts";
import { MemoryDiscovery } from "./memory_discovery.ts";

/** Reads one environment variable. */
export type EnvReader = (name: string) => string | undefined;

/** The default `ETCD_ENDPOINTS`. */
export const DEFAULT_ETCD_ENDPOINTS = "http://127.0.0.1:2379";

/** Options shared by the connectors. */
export interface DiscoveryConnectorOptions {
  logger?: Logger;
  /** Lets the process exit while heartbeat timers are pending (the runtime's `unrefTimer`). */
  unrefTimer?(timer: ReturnType<typeof setTimeout>): void;
}

/** `DYN_DISCOVERY_TTL_SECS` in seconds (default 10). @throws {SluiceError} `InvalidArgument`. */
export function discoveryTtlSeconds(env: EnvReader): number {
  const raw = env("DYN_DISCOVERY_TTL_SECS");
  if (raw === undefined || raw === "") return 10;
  const ttl = Number(raw);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 3600) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot use DYN_DISCOVERY_TTL_SECS="${raw}": expected whole seconds from 1 to 3600`,
      { param: "DYN_DISCOVERY_TTL_SECS" },
    );
  }
  return ttl;
}

/**
 * The backend name: the flag when given, else `DYN_DISCOVERY_BACKEND`, else `fallback`.
 * @throws {SluiceError} `InvalidArgument` for a name outside `[a-z0-9_-]`.
 */
export function discoveryBackendName(
  flag: string | undefined,
  env: EnvReader,
  fallback: string,
): string {
  const name = flag ?? env("DYN_DISCOVERY_BACKEND") ?? fallback;
  if (!/^[a-z0-9_-]+$/.test(name)) {
    throw new SluiceError("InvalidArgument", `Cannot use discovery backend "${name}"`, {
      param: "DYN_DISCOVERY_BACKEND",
    });
  }
  return name;
}

/** Connectors for `memory`, `file`, `etcd` and `nats`, for `PlaneConnectors.discovery`. */
export function discoveryConnectors(
  options: DiscoveryConnectorOptions = {},
): Record<string, (env: EnvReader) => Promise<Discovery>> {
  const common = { logger: options.logger, unrefTimer: options.unrefTimer };
  return {
    memory: () => Promise.resolve(new MemoryDiscovery()),
    file: async (env) => {
      const ttlMs = discoveryTtlSeconds(env) * 1000;
      const { FileDiscovery } = await import("./file_discovery.ts");
      const { defaultFileKvDir, localDirectoryStore } = await import(
        "../runtime/directory_store.ts"
      );
      return await FileDiscovery.connect({
        ...common,
        store: localDirectoryStore(env("DYN_FILE_KV") || defaultFileKvDir()),
        ttlMs,
      });
    },
    etcd: async (env) => {
      const ttlSeconds = discoveryTtlSeconds(env);
      const { EtcdDiscovery } = await import("./etcd_discovery.ts");
      return await EtcdDiscovery.connect({
        ...common,
        endpoints: (env("ETCD_ENDPOINTS") || DEFAULT_ETCD_ENDPOINTS).split(","),
        ttlSeconds,
      });
    },
    nats: async (env) => {
      const ttlMs = discoveryTtlSeconds(env) * 1000;
      const { connectNats, resolveNatsServer } = await import("../wire/nats_connection.ts");
      const { NatsKvDiscovery } = await import("./nats_kv_discovery.ts");
      const connection = await connectNats(resolveNatsServer(env), {
        name: "sluice-discovery",
      });
      return await NatsKvDiscovery.connect({
        ...common,
        connection,
        ownsConnection: true,
        bucket: env("DYN_DISCOVERY_BUCKET") || undefined,
        ttlMs,
      });
    },
  };
}
