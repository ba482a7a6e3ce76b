/**
 * A real nats-server (Debian `nats-server`, 2.9) with JetStream and WebSocket
 * on random loopback ports and a temp store, for the NATS KV discovery tests.
 * `stop()` / `start()` restart it on the same ports and store.
 */
import { writeFile } from "node:fs/promises";
import {
  freePort,
  LoopbackProcess,
  removeDir,
  requireBinary,
  tempDir,
  waitUntil,
} from "./loopback_process.ts";

/** A running (or stopped) test nats-server. */
export interface NatsKvServer {
  /** `nats://127.0.0.1:PORT`. */
  readonly url: string;
  /** `ws://127.0.0.1:PORT`. */
  readonly wsUrl: string;
  /** Stops the server (SIGTERM, or SIGKILL with `kill`). */
  stop(options?: { kill?: boolean }): Promise<void>;
  /** Starts it again on the same ports and store; resolves when healthy. */
  start(): Promise<void>;
  /** Stops it and removes its store. */
  close(): Promise<void>;
}

/** Starts nats-server with JetStream and waits until `/healthz` reports ok. */
export async function startNatsKvServer(): Promise<NatsKvServer> {
  const binary = await requireBinary("nats-server", "nats-server");
  const dir = await tempDir("sluice-nats-");
  const [port, wsPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  const config = `${dir}/nats.conf`;
  await writeFile(
    config,
    [
      `listen: "127.0.0.1:${port}"`,
      `http: "127.0.0.1:${httpPort}"`,
      `jetstream { store_dir: "${dir}/js" }`,
      `websocket { listen: "127.0.0.1:${wsPort}", no_tls: true }`,
      "",
    ].join("\n"),
  );
  let child: LoopbackProcess | undefined;
  const start = async () => {
    child = new LoopbackProcess(binary, ["-c", config]);
    await waitUntil(
      "nats-server",
      async () => {
        const res = await fetch(`http://127.0.0.1:${httpPort}/healthz?js-enabled-only=true`);
        await res.body?.cancel();
        return res.ok;
      },
      15000,
      child,
    );
  };
  try {
    await start();
  } catch (error) {
    await child?.stop("SIGKILL");
    await removeDir(dir);
    throw error;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    stop: async (options = {}) => await child?.stop(options.kill ? "SIGKILL" : "SIGTERM"),
    start,
    close: async () => {
      await child?.stop("SIGKILL");
      await removeDir(dir);
    },
  };
}
