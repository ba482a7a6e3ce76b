/**
 * A whole distributed deployment on loopback for the tests in this folder: a real
 * nats-server (request and event planes, and NATS-KV discovery), a real etcd (etcd
 * discovery) or a `DYN_FILE_KV` directory (file discovery), N `sluice worker` processes
 * serving the counting engine (tests/fixtures/counting_engine.ts) and one
 * `sluice frontend` process. Processes run under the test's own runtime (Deno or Bun)
 * unless a worker asks for Bun explicitly.
 *
 * ```ts
 * const cluster = await startCluster({ discovery: "etcd", workers: 3 });
 * try {
 *   await fetch(`${cluster.url}/v1/completions`, …);
 * } finally {
 *   await cluster.close(); // every process is gone, even after a failure
 * }
 * ```
 *
 * Every wait is bounded; `close()` SIGKILLs whatever still runs and removes temp dirs.
 */
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import { type Fixture, runtimeCommand, spawnCommand } from "../fixtures/spawn_fixture.ts";
import { type EtcdServer, startEtcd } from "../support/etcd_server.ts";
import { removeDir, tempDir } from "../support/loopback_process.ts";
import { type NatsServer, startNatsServer } from "../support/nats_server.ts";

/** Discovery backends the distributed tests run on. */
export type DiscoveryBackend = "etcd" | "nats" | "file";

/** Liveness TTL of the test clusters (`DYN_DISCOVERY_TTL_SECS`). */
export const TTL_SECS = 3;

/** How one worker process is started. */
export interface WorkerSpec {
  /** `--engine` (default the counting engine module). */
  engine?: string;
  /** Extra engine flags. */
  args?: string[];
  /** Served model name (default `counting`). */
  model?: string;
  /** `--migration-limit` (default 0). */
  migrationLimit?: number;
  /** Delay per token in ms (default 10). */
  delayMs?: number;
  /** How the worker reaches NATS (default `tcp`). */
  transport?: "tcp" | "ws";
  /** `bun` runs the worker under Bun whatever runtime runs the tests. */
  runtime?: "current" | "bun";
  /** Runs it through tests/fixtures/traced_cli.ts (spans to the file `SLUICE_TEST_SPANS`). */
  traced?: boolean;
  /** Extra environment. */
  env?: Record<string, string>;
}

/** Options of {@linkcode startCluster}. */
export interface ClusterOptions {
  discovery: DiscoveryBackend;
  /** Workers started with the cluster. */
  workers: WorkerSpec[];
  /** How the frontend reaches NATS (default `tcp`). */
  frontendTransport?: "tcp" | "ws";
  /** `--router-mode` of the frontend (default round-robin). */
  routerMode?: string;
  /** Extra environment for the frontend. */
  frontendEnv?: Record<string, string>;
  /** Runs the frontend through tests/fixtures/traced_cli.ts (spans to `SLUICE_TEST_SPANS`). */
  traced?: boolean;
  /**
   * The command-line entry untraced processes run instead of apps/cli/main.ts (a wrapper
   * that takes the same arguments, e.g. bench/gc_cli.ts).
   */
  cli?: string;
  /** Extra environment for every process. */
  env?: Record<string, string>;
}

/** One worker process of a cluster. */
export interface ClusterWorker {
  readonly spec: WorkerSpec;
  readonly process: Fixture;
  /** Ids of the (non-canary) requests its engine started. */
  generated(): string[];
}

/** A running cluster (see the module doc). */
export interface Cluster {
  readonly nats: NatsServer;
  readonly etcd?: EtcdServer;
  /** The frontend's base URL, `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly frontend: Fixture;
  readonly workers: ClusterWorker[];
  /** The environment every process gets (discovery settings, TTL). */
  readonly env: Record<string, string>;
  /** Starts one more worker (not waiting for it to be routable). */
  addWorker(spec: WorkerSpec): ClusterWorker;
  /** Waits until `/health` lists exactly `count` ready instances of `model`. */
  waitReady(count: number, model?: string, ms?: number): Promise<void>;
  /** `/health`'s instances of `model`. */
  instances(model?: string): Promise<HealthInstance[]>;
  /** Everything the processes printed on stderr (for failure messages). */
  logs(): string;
  /** Kills every process, stops the servers, removes temp dirs. Idempotent. */
  close(): Promise<void>;
}

/** One entry of the frontend's `/health` `instances`. */
export interface HealthInstance {
  instance_id: string;
  model: string;
  inflight: number;
  ready: boolean;
}

const ROOT = resolve(import.meta.dirname ?? ".", "../..");
const ENGINE = "./tests/fixtures/counting_engine.ts";
const BUN = join(ROOT, "node_modules/.bin/bun");
const CLI = "apps/cli/main.ts";
const TRACED_CLI = "tests/fixtures/traced_cli.ts";

/** Polls `check` every 50 ms until true; fails naming `what` after `ms`. */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms: number,
): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return performance.now() - t0;
    if (performance.now() - t0 > ms) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs `start` up to three times, returning its first success. */
async function withRetries<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

/** Starts a cluster and waits until the frontend routes to every worker. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const owned: Fixture[] = [];
  const workers: ClusterWorker[] = [];
  let nats: NatsServer | undefined;
  let etcd: EtcdServer | undefined;
  let dir: string | undefined;
  let closed = false;
  // Last resort when the test process exits without `close()` (an interrupted run): SIGKILL
  // the children synchronously so none outlives it.
  const killAll = () => {
    for (const p of owned) {
      try {
        p.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    void nats?.kill();
    void etcd?.stop({ kill: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", killAll);
  const close = async () => {
    if (closed) return;
    closed = true;
    process.off("exit", killAll);
    await Promise.allSettled(owned.map((p) => p[Symbol.asyncDispose]()));
    await Promise.allSettled([nats?.stop(), etcd?.close()]);
    if (dir) await removeDir(dir);
  };
  try {
    dir = await tempDir("sluice-cluster-");
    // One after the other, and retried: ports are picked free then released, so another
    // process on a busy CI machine can take one before the server binds it.
    nats = await withRetries(startNatsServer);
    if (options.discovery === "etcd") etcd = await withRetries(startEtcd);
    const env: Record<string, string> = {
      DYN_DISCOVERY_TTL_SECS: String(TTL_SECS),
      DYN_FILE_KV: join(dir, "kv"),
      DYN_DISCOVERY_BUCKET: "cluster_discovery",
      DYN_LOG: "warn",
      DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS: "0",
      ...(etcd ? { ETCD_ENDPOINTS: etcd.endpoint } : {}),
      ...options.env,
    };
    const planeFlags = (natsUrl: string) => [
      "--discovery-backend",
      options.discovery,
      "--request-plane",
      "nats",
      "--event-plane",
      "nats",
      "--nats-server",
      natsUrl,
    ];
    const addWorker = (spec: WorkerSpec): ClusterWorker => {
      const args = [
        "worker",
        "--engine",
        spec.engine ?? ENGINE,
        ...planeFlags(spec.transport === "ws" ? nats!.wsUrl : nats!.url),
        "--model-name",
        spec.model ?? "counting",
        "--migration-limit",
        String(spec.migrationLimit ?? 0),
        "--delay-ms",
        String(spec.delayMs ?? 10),
        ...(spec.args ?? []),
      ];
      const entry = spec.traced ? TRACED_CLI : options.cli ?? CLI;
      const [command, argv] = spec.runtime === "bun"
        ? [BUN, [entry, ...args]]
        : runtimeCommand(entry, args);
      const child = spawnCommand(command, argv, { ...env, ...spec.env }, { cwd: ROOT });
      owned.push(child);
      const worker: ClusterWorker = {
        spec,
        process: child,
        generated: () =>
          child.events().filter((e) => e.event === "generate" && !e.canary).map((e) =>
            String(e.id)
          ),
      };
      workers.push(worker);
      return worker;
    };
    for (const spec of options.workers) addWorker(spec);

    const frontendNats = options.frontendTransport === "ws" ? nats.wsUrl : nats.url;
    const frontendArgs = [
      "frontend",
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      ...planeFlags(frontendNats),
      "--router-mode",
      options.routerMode ?? "round-robin",
    ];
    const entry = options.traced ? TRACED_CLI : options.cli ?? CLI;
    const frontend = spawnCommand(
      ...runtimeCommand(entry, frontendArgs),
      { ...env, ...options.frontendEnv },
      { cwd: ROOT },
    );
    owned.push(frontend);
    const listening = /sluice frontend: listening on (http:\/\/[^\s]+?)(?:\s|$)/;
    let url = "";
    await eventually("the frontend listening", () => {
      const match = listening.exec(frontend.stdout() + frontend.stderr());
      if (match) url = match[1].replace("0.0.0.0", "127.0.0.1").replace(/\/$/, "");
      return match !== null;
    }, 30_000).catch((error) => {
      throw new Error(`${error.message}\nfrontend:\n${frontend.stdout()}${frontend.stderr()}`);
    });

    const instances = async (model = "counting"): Promise<HealthInstance[]> => {
      const res = await fetch(`${url}/health`);
      const body = await res.json() as { instances?: HealthInstance[] };
      return (body.instances ?? []).filter((i) => i.model === model);
    };
    const logs = () =>
      [
        `frontend:\n${frontend.stderr()}`,
        ...workers.map((w, i) => `worker ${i} (pid ${w.process.pid}):\n${w.process.stderr()}`),
      ].join("\n");
    const waitReady = async (count: number, model = "counting", ms = 30_000) => {
      await eventually(`${count} ready instances of ${model}`, async () => {
        const list = await instances(model);
        if (list.length !== count || list.some((i) => !i.ready)) return false;
        const models = await (await fetch(`${url}/v1/models`)).json() as {
          data: { id: string }[];
        };
        return models.data.some((m) => m.id === model);
      }, ms).catch((error) => {
        throw new Error(`${error.message}\n${logs()}`);
      });
    };
    const cluster: Cluster = {
      nats,
      etcd,
      url,
      frontend,
      workers,
      env,
      addWorker,
      waitReady,
      instances,
      logs,
      close,
    };
    const models = new Map<string, number>();
    for (const spec of options.workers) {
      const model = spec.model ?? "counting";
      models.set(model, (models.get(model) ?? 0) + 1);
    }
    for (const [model, count] of models) await waitReady(count, model, 60_000);
    return cluster;
  } catch (error) {
    await close();
    throw error;
  }
}
