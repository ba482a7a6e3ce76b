/**
 * Opens a NATS connection by URL: `nats://` (TCP, `@nats-io/transport-node`, which
 * runs on Deno, Bun and Node) or `ws://` / `wss://` (WebSocket, `wsconnect` from
 * `@nats-io/nats-core`, which needs only the global `WebSocket`: edge runtimes too).
 *
 * @module
 */
import { type NatsConnection, wsconnect } from "@nats-io/nats-core";
import { connect as tcpConnect } from "@nats-io/transport-node";
import { SluiceError } from "../errors/sluice_error.ts";

/** The default server, as in Dynamo. */
export const DEFAULT_NATS_SERVER = "nats://127.0.0.1:4222";

/** Options for {@linkcode connectNats}. */
export interface NatsConnectOptions {
  /** Connection name shown by the server's monitoring. */
  name?: string;
  /** Milliseconds to wait for the first connection (default 5 000). */
  timeoutMs?: number;
}

/**
 * Connects to `servers` (`NATS_SERVER`: one URL, or several comma-separated of one scheme).
 * The connection reconnects by itself forever after it was established once.
 * @throws {SluiceError} `InvalidArgument` for a URL of another scheme; `CannotConnect` naming
 * the servers when none answers.
 */
export async function connectNats(
  servers: string,
  options: NatsConnectOptions = {},
): Promise<NatsConnection> {
  const urls = servers.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (urls.length === 0) urls.push(DEFAULT_NATS_SERVER);
  const schemes = new Set(urls.map((u) => /^([a-z]+):\/\//.exec(u)?.[1] ?? ""));
  const websocket = [...schemes].every((s) => s === "ws" || s === "wss");
  const tcp = [...schemes].every((s) => s === "nats" || s === "tls");
  if (!websocket && !tcp) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot connect NATS "${servers}": use nats:// or tls:// (TCP) or ws:// or wss:// (WebSocket), one kind`,
      { param: "NATS_SERVER" },
    );
  }
  const common = {
    servers: urls,
    name: options.name,
    timeout: options.timeoutMs ?? 5000,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  };
  try {
    return websocket ? await wsconnect(common) : await tcpConnect(common);
  } catch (error) {
    throw new SluiceError(
      "CannotConnect",
      `Cannot connect NATS at ${urls.join(",")}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
