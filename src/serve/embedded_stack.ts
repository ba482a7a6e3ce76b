/**
 * The embedded default, without a listener: one or more workers running an engine,
 * and the OpenAI frontend, all in this process over the in-process request plane
 * and a memory discovery store. No servers; the same code path as the distributed
 * mode (the frontend learns the workers from discovery and calls them through the
 * `RequestPlane` interface).
 *
 * @module
 */
import type { EngineFactory } from "../engine/engine.ts";
import { MemoryDiscovery, MemoryDiscoveryStore } from "../discovery/memory_discovery.ts";
import { createFrontend, type Frontend } from "../frontend/frontend_app.ts";
import { ModelResourceLoader } from "../frontend/model_resources.ts";
import type { FrontendOptions } from "../frontend/frontend_app.ts";
import { SluiceError } from "../errors/sluice_error.ts";
import { createLogger, type Logger } from "../logging/logger.ts";
import { MetricsRegistry } from "../metrics/metrics_registry.ts";
import { InProcessRequestPlane } from "../request_plane/in_process_request_plane.ts";
import { createWorker, type Worker, type WorkerTimings } from "../worker/worker.ts";
import { bounded } from "../worker/worker_timings.ts";

/** Past the shutdown deadline, the longest wait for closing the frontend and the planes. */
export const DEADLINE_CLOSE_MS = 1000;

/** Options for {@linkcode createEmbeddedStack}. */
export interface EmbeddedStackOptions extends
  Pick<
    FrontendOptions,
    | "routerMode"
    | "maxInflightPerWorker"
    | "cooldownMs"
    | "maxBodyBytes"
    | "readTextFile"
    | "readFile"
    | "readFileRange"
    | "fetch"
    | "fileFetchTimeoutMs"
    | "sseBufferLimit"
    | "resourceLoader"
    | "apiKey"
    | "publicPaths"
    | "allowedOrigins"
  > {
  /** The engine factory; each worker gets its own engine from `fromArgs(engineArgs)`. */
  engine: EngineFactory;
  /** Engine (and worker) flags, e.g. `["--delay-ms", "0"]`. */
  engineArgs?: string[];
  /** Number of workers (default 1). */
  workers?: number;
  logger?: Logger;
  /** Worker shutdown timings; the grace period defaults to 0 (the only router is in-process). */
  timings?: Partial<WorkerTimings>;
  /** Enables the workers' idle-time health canary (default true). */
  healthCanary?: boolean;
  /** Lets the process exit while worker timers are pending. */
  unrefTimer?(timer: ReturnType<typeof setTimeout>): void;
  /**
   * Aborting it during start stops the stack from serving: each engine's `start()` is let
   * finish (so its `cleanup()` can run), then its worker shuts down without registering,
   * and the call rejects with `signal.reason`. A start failure still wins over the abort.
   */
  signal?: AbortSignal;
}

/** A started stack. */
export interface EmbeddedStack {
  readonly frontend: Frontend;
  readonly workers: readonly Worker[];
  /** The registry shared by the frontend and the workers (`/metrics` renders it). */
  readonly metrics: MetricsRegistry;
  /**
   * Shuts the workers down gracefully (in-flight requests finish), then closes the frontend
   * and the planes; resolves with the worst worker exit code (0 or 911). When a worker
   * missed its deadline (911), the generations still in flight MUST be cut (clients get an
   * error frame and `[DONE]`) and closing MUST NOT wait more than {@linkcode DEADLINE_CLOSE_MS}.
   * Idempotent.
   */
  shutdown(): Promise<number>;
}

/**
 * Waits for the workers shut down by an abort during start; rejects with the abort reason,
 * or with an `EngineShutdown` error when a worker missed its shutdown deadline.
 */
async function stopAfterAbort(workers: Worker[], signal: AbortSignal): Promise<never> {
  const code = Math.max(0, ...await Promise.all(workers.map((w) => w.shutdown())));
  if (code !== 0) {
    throw new SluiceError(
      "EngineShutdown",
      `Cannot stop the engines started before the shutdown request: exit code ${code}`,
      { code: "shutdown_deadline", cause: signal.reason },
    );
  }
  throw signal.reason;
}

/**
 * Starts the workers and the frontend; rejects (after cleaning up) when an engine fails to
 * start or `options.signal` aborts during start.
 *
 * @example
 * ```ts ignore
 * import { SampleEngine } from "../../engines/sample/mod.ts";
 * const stack = await createEmbeddedStack({ engine: SampleEngine, engineArgs: ["--delay-ms", "0"] });
 * const res = await stack.frontend.fetch(new Request("http://local/v1/models"));
 * await stack.shutdown();
 * ```
 */
export async function createEmbeddedStack(options: EmbeddedStackOptions): Promise<EmbeddedStack> {
  const count = options.workers ?? 1;
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`Cannot create embedded stack: workers must be >= 1, got ${count}`);
  }
  options.signal?.throwIfAborted();
  const logger = options.logger ?? createLogger();
  const metrics = new MetricsRegistry();
  const store = new MemoryDiscoveryStore();
  const requestPlane = new InProcessRequestPlane();
  const frontendDiscovery = new MemoryDiscovery({ store });
  const workers: Worker[] = [];
  const discoveries: MemoryDiscovery[] = [];
  let frontend: Frontend | undefined;
  // One loader for the workers' start-time checks and the frontend: each model loads once.
  const resourceLoader = options.resourceLoader ?? new ModelResourceLoader({
    readFile: options.readFile,
    readTextFile: options.readTextFile,
    fetch: options.fetch,
    fetchTimeoutMs: options.fileFetchTimeoutMs,
  });
  // A worker shut down during its start finishes the start, then does not serve.
  const stopStarting = () => workers.forEach((w) => void w.shutdown());
  options.signal?.addEventListener("abort", stopStarting, { once: true });
  const closeAll = async () => {
    await frontend?.close();
    await requestPlane.close();
    for (const d of [...discoveries, frontendDiscovery]) await d.close();
  };
  try {
    for (let i = 0; i < count; i++) {
      options.signal?.throwIfAborted();
      const setup = await options.engine.fromArgs(options.engineArgs ?? []);
      const discovery = new MemoryDiscovery({ store });
      discoveries.push(discovery);
      workers.push(createWorker({
        engine: setup.engine,
        config: setup.worker,
        discovery,
        requestPlane,
        metrics,
        logger,
        timings: { gracePeriodMs: 0, ...options.timings },
        healthCanary: options.healthCanary,
        unrefTimer: options.unrefTimer,
        resourceLoader,
      }));
    }
    options.signal?.throwIfAborted();
    const started = await Promise.allSettled(workers.map((w) => w.start()));
    const failed = started.find((r) => r.status === "rejected");
    if (failed !== undefined) {
      await Promise.all(workers.map((w) => w.shutdown()));
      throw (failed as PromiseRejectedResult).reason;
    }
    if (options.signal?.aborted) await stopAfterAbort(workers, options.signal);
    const byId = new Map(workers.map((w) => [w.instanceId, w]));
    frontend = await createFrontend({
      ...options,
      resourceLoader,
      // Routing and /health follow each worker's readiness (failed canary, shutdown).
      isReady: (instanceId) => byId.get(instanceId)?.ready ?? true,
      discovery: frontendDiscovery,
      requestPlane,
      metrics,
      logger,
    });
  } catch (error) {
    await Promise.all(workers.map((w) => w.shutdown()));
    await closeAll();
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", stopStarting);
  }
  let stopping: Promise<number> | undefined;
  return {
    frontend,
    workers,
    metrics,
    shutdown: () => (stopping ??= (async () => {
      const codes = await Promise.all(workers.map((w) => w.shutdown()));
      const code = Math.max(0, ...codes);
      if (code !== 0) {
        // Past the deadline: cut what is still streaming, and bound the rest of the way out.
        const cut = frontend!.cutGenerations();
        logger.error("shutdown deadline passed; cut the generations in flight", { cut });
        await bounded(closeAll(), DEADLINE_CLOSE_MS);
      } else {
        await closeAll();
      }
      return code;
    })()),
  };
}
