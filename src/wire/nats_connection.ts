/**
 * Connecting to NATS, choosing the transport by the server URL:
 * `nats://` / `tls://` over TCP (`@nats-io/transport-node`, which works in Deno
 * and Bun) and `ws://` / `wss://` over WebSocket (`wsconnect` from
 * `@nats-io/nats-core`, using the runtime's `WebSocket`: the edge transport,
 * outbound connections only). The client reconnects on its own; callers see
 * the gaps through the transport's disconnect notice.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { wsconnect } from "@nats-io/nats-core";
import { connect as tcpConnect } from "@nats-io/transport-node";
import { SluiceError } from "../errors/sluice_error.ts";

/** The server used when neither a flag nor `NATS_SERVER` names one (Dynamo's default). */
export const DEFAULT_NATS_SERVER = "nats://127.0.0.1:4222";

/** Options for {@linkcode connectNats}. */
export interface NatsConnectOptions {
  /** Connection name shown by the server's `/connz`. */
  name?: string;
  /** Milliseconds to wait for the first connection (default 5000). */
  timeoutMs?: number;
  /** Milliseconds between reconnect attempts (default 250). */
  reconnectWaitMs?: number;
}

/**
 * The NATS server URL(s) to use: the flag, else `NATS_SERVER`, else the default. Several
 * URLs (a cluster) are comma-separated; all MUST share one scheme.
 * @throws {SluiceError} `InvalidArgument` for a URL that is not nats/tls/ws/wss.
 */
export function resolveNatsServer(
  env: (name: string) => string | undefined,
  flag?: string,
): string[] {
  const raw = flag ?? env("NATS_SERVER") ?? DEFAULT_NATS_SERVER;
  const urls = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (urls.length === 0) {
    throw new SluiceError("InvalidArgument", "Cannot connect to NATS: the server list is empty", {
      param: "NATS_SERVER",
    });
  }
  const schemes = new Set(urls.map(schemeOf));
  if (schemes.size > 1) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot connect to NATS at ${raw}: mixed schemes; use all nats:// or all ws://`,
      { param: "NATS_SERVER" },
    );
  }
  return urls;
}

function schemeOf(url: string): "tcp" | "ws" {
  const match = /^([a-z]+):\/\//i.exec(url);
  const scheme = match?.[1].toLowerCase();
  if (scheme === "nats" || scheme === "tls") return "tcp";
  if (scheme === "ws" || scheme === "wss") return "ws";
  throw new SluiceError(
    "InvalidArgument",
    `Cannot connect to NATS at ${url}: the URL must start with nats://, tls://, ws:// or wss://`,
    { param: "NATS_SERVER" },
  );
}

/**
 * Connects to `servers` (from {@linkcode resolveNatsServer}), over TCP or WebSocket by scheme.
 * Reconnects forever once connected.
 * @throws {SluiceError} `CannotConnect` naming the address when the first connection fails.
 */
export async function connectNats(
  servers: string[],
  options: NatsConnectOptions = {},
): Promise<NatsConnection> {
  const ws = schemeOf(servers[0]) === "ws";
  const common = {
    servers,
    name: options.name,
    timeout: options.timeoutMs ?? 5000,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectWaitMs ?? 250,
    reconnectJitter: 50,
    ignoreClusterUpdates: true,
  };
  try {
    return ws ? await wsconnect(common) : await tcpConnect(common);
  } catch (error) {
    throw new SluiceError(
      "CannotConnect",
      `Cannot connect to NATS at ${servers.join(",")}: ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
}
