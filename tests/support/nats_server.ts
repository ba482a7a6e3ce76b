/**
 * Test harness: a real nats-server (Debian package `nats-server`) on random
 * loopback ports, with JetStream (temp store dir) and a WebSocket listener.
 * Shared by every test that needs NATS.
 *
 * ```ts
 * await using nats = await startNatsServer();
 * nats.url;   // nats://127.0.0.1:PORT
 * nats.wsUrl; // ws://127.0.0.1:PORT
 * await nats.restart(); // kill -9, then start again on the same ports
 * ```
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A running nats-server. */
export interface NatsServer extends AsyncDisposable {
  /** `nats://127.0.0.1:PORT`. */
  readonly url: string;
  /** `ws://127.0.0.1:PORT`. */
  readonly wsUrl: string;
  /** The monitoring port (`/healthz`, `/varz`, `/connz`). */
  readonly monitorPort: number;
  /** The JetStream store directory. */
  readonly storeDir: string;
  /** Kills the server with SIGKILL and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and store (after `kill`), and waits until ready. */
  start(): Promise<void>;
  /** `kill()` then `start()`. */
  restart(): Promise<void>;
  /** Stops it and removes its temp directory. Idempotent. */
  stop(): Promise<void>;
  /** What the server printed (for failure messages). */
  log(): string;
}

/** The nats-server binary: `NATS_SERVER_BIN`, else `nats-server` on PATH (or /usr/sbin). */
function binary(): string {
  // deno-lint-ignore no-explicit-any
  const env = (globalThis as any).process?.env ?? {};
  return env.NATS_SERVER_BIN ?? "nats-server";
}

/** A free loopback TCP port (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.connect(port, "127.0.0.1", () => done(true));
  });
}

/**
 * Starts nats-server and waits until `/healthz` answers ok and both listeners accept.
 * @throws {Error} naming the missing package when nats-server is not installed.
 */
export async function startNatsServer(): Promise<NatsServer> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-nats-"));
  const [port, wsPort, monitorPort] = [await freePort(), await freePort(), await freePort()];
  const storeDir = join(dir, "jetstream");
  const config = join(dir, "nats.conf");
  await writeFile(
    config,
    [
      `listen: "127.0.0.1:${port}"`,
      `http: "127.0.0.1:${monitorPort}"`,
      `jetstream { store_dir: "${storeDir}" }`,
      `websocket { listen: "127.0.0.1:${wsPort}"\n  no_tls: true }`,
      "",
    ].join("\n"),
  );
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = "";
  let stopped = false;

  const launch = async () => {
    const proc = spawn(binary(), ["-c", config], { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    proc.stdout!.on("data", (d) => (output += d));
    proc.stderr!.on("data", (d) => (output += d));
    let failed: Error | undefined;
    exited = new Promise<void>((resolve) => {
      proc.once("error", (error) => {
        failed = new Error(
          `Cannot start nats-server (${binary()}): ${error.message}; install the Debian package nats-server (tests/run.sh does)`,
        );
        resolve();
      });
      proc.once("exit", () => resolve());
    });
    const deadline = performance.now() + 10_000;
    for (;;) {
      if (failed) throw failed;
      if (proc.exitCode !== null) throw new Error(`nats-server exited at start:\n${output}`);
      try {
        const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`);
        const ok = res.ok && (await res.json()).status === "ok";
        if (ok && await canConnect(port) && await canConnect(wsPort)) return;
      } catch {
        // not up yet
      }
      if (performance.now() > deadline) {
        throw new Error(`nats-server not ready in 10 s:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const kill = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await kill();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await launch();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    monitorPort,
    storeDir,
    kill,
    start: launch,
    async restart() {
      await kill();
      await launch();
    },
    stop,
    log: () => output,
    [Symbol.asyncDispose]: stop,
  };
}
