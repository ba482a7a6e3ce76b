/**
 * The NATS request plane: the wire protocol (`src/wire/wire_format.md`) over a
 * NATS connection, TCP (`nats://`) or WebSocket (`ws://`, `wss://`) by URL.
 *
 * @module
 */
import {
  connectNats,
  type NatsConnectOptions,
  resolveNatsServer,
} from "../wire/nats_connection.ts";
import { NatsTransport } from "../wire/nats_transport.ts";
import { type WireProtocolOptions, WireRequestPlane } from "./wire_request_plane.ts";

/** Options for {@linkcode connectNatsRequestPlane}. */
export interface NatsRequestPlaneOptions extends WireProtocolOptions, NatsConnectOptions {
  /** Server URL(s), overriding `NATS_SERVER` (the `--nats-server` flag). */
  server?: string;
}

/**
 * Connects a request plane to NATS: `options.server`, else `NATS_SERVER`, else
 * `nats://127.0.0.1:4222`. Served endpoints are published as `{ nats: subject }`.
 * @throws {SluiceError} `CannotConnect` naming the address, `InvalidArgument` for a bad URL.
 */
export async function connectNatsRequestPlane(
  env: (name: string) => string | undefined,
  options: NatsRequestPlaneOptions = {},
): Promise<WireRequestPlane> {
  const servers = resolveNatsServer(env, options.server);
  const connection = await connectNats(servers, {
    name: options.name ?? "sluice-request-plane",
    timeoutMs: options.timeoutMs,
    reconnectWaitMs: options.reconnectWaitMs,
  });
  return new WireRequestPlane({
    ...options,
    kind: "nats",
    addressKey: "nats",
    transport: new NatsTransport(connection),
  });
}
