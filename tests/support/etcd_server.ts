/**
 * A real single-node etcd (Debian `etcd-server`, 3.4) on random loopback ports
 * with a temp data dir, for discovery tests. `stop()` / `start()` restart it on
 * the same ports and data, as an outage would.
 */
import {
  freePort,
  LoopbackProcess,
  removeDir,
  requireBinary,
  tempDir,
  waitUntil,
} from "./loopback_process.ts";

/** A running (or stopped) test etcd. */
export interface EtcdServer {
  /** The client URL, e.g. `http://127.0.0.1:23791`. */
  readonly endpoint: string;
  /** Stops the server (SIGTERM, or SIGKILL with `kill`). */
  stop(options?: { kill?: boolean }): Promise<void>;
  /** Starts it again on the same ports and data; resolves when healthy. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  close(): Promise<void>;
}

/** Starts etcd and waits until `/health` answers healthy. */
export async function startEtcd(): Promise<EtcdServer> {
  const binary = await requireBinary("etcd", "etcd-server");
  const dir = await tempDir("sluice-etcd-");
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    "--name=test",
    `--data-dir=${dir}/data`,
    `--listen-client-urls=${endpoint}`,
    `--advertise-client-urls=${endpoint}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=test=${peer}`,
    "--heartbeat-interval=20",
    "--election-timeout=100",
    "--logger=zap",
    "--log-level=error",
  ];
  let child: LoopbackProcess | undefined;
  const start = async () => {
    child = new LoopbackProcess(binary, args);
    await waitUntil(
      "etcd",
      async () => {
        const res = await fetch(`${endpoint}/health`);
        const body = await res.json() as { health?: string };
        return res.ok && body.health === "true";
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
    endpoint,
    stop: async (options = {}) => await child?.stop(options.kill ? "SIGKILL" : "SIGTERM"),
    start,
    close: async () => {
      await child?.stop("SIGKILL");
      await removeDir(dir);
    },
  };
}
