/**
 * `run(factory, argv)`: the whole life of a worker process, as Dynamo's
 * `run()` does it: parse → install signal handlers → connect planes → start
 * (timed) → register → serve → on SIGTERM/SIGINT the graceful shutdown → exit.
 *
 * A second signal during shutdown forces an immediate exit with code 130.
 *
 * @module
 */
import { SluiceError, toSluiceError } from "../errors/sluice_error.ts";
import type { EngineFactory } from "../engine/engine.ts";
import { parseWorkerConfig } from "../engine/worker_config.ts";
import { parseJsonObject } from "../engine/engine_args.ts";
import { createLogger, type Logger, parseLogLevel } from "../logging/logger.ts";
import { currentRuntime, type Runtime } from "../runtime/runtime.ts";
import { installShutdownSignals } from "../runtime/shutdown_signals.ts";
import { closePlanes, connectPlanes, type PlaneConnectors, type Planes } from "./planes.ts";
import {
  createWorker,
  SHUTDOWN_DEADLINE_EXIT,
  type Worker,
  type WorkerOptions,
  workerTimingsFromEnv,
} from "./worker.ts";

/** Longest wait for closing the planes on the way out. */
const CLOSE_TIMEOUT_MS = 5000;

/** Options for {@linkcode run}. */
export interface RunOptions {
  /** Signals, environment, files and exit; the current runtime (Deno, Bun, Node) when absent. */
  runtime?: Runtime;
  /** Logger; default: level from `DYN_LOG`, to stderr. */
  logger?: Logger;
  /** Plane backends by name (defaults: memory discovery, in-process planes). */
  connectors?: PlaneConnectors;
  /** Called once the worker serves (e.g. to print its address or start an HTTP frontend). */
  onServing?(worker: Worker, planes: Planes): void | Promise<void>;
  /** Extra worker options (model card files, metrics registry). */
  worker?: Partial<Pick<WorkerOptions, "metrics" | "modelCard" | "instanceId">>;
}

/** Reads `DYN_HEALTH_CHECK_PAYLOAD`: inline JSON, or `@path` to a JSON file. */
export async function healthPayloadFromEnv(
  runtime: Runtime,
): Promise<Record<string, unknown> | undefined> {
  const raw = runtime.env("DYN_HEALTH_CHECK_PAYLOAD");
  if (raw === undefined || raw === "") return undefined;
  if (!raw.startsWith("@")) return parseJsonObject(raw, "DYN_HEALTH_CHECK_PAYLOAD");
  let text: string;
  try {
    text = await runtime.readTextFile(raw.slice(1));
  } catch (error) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot read DYN_HEALTH_CHECK_PAYLOAD file "${raw.slice(1)}": ${(error as Error).message}`,
      { param: "DYN_HEALTH_CHECK_PAYLOAD", cause: error },
    );
  }
  return parseJsonObject(text, `DYN_HEALTH_CHECK_PAYLOAD file "${raw.slice(1)}"`);
}

/**
 * Runs an engine as a worker process until a signal ends it, then exits the process.
 * Exit codes: 0 after a clean shutdown, 911 when the shutdown deadline passed, 2 for bad
 * flags, 1 when a dependency or `start()` failed, 130 on a second signal.
 *
 * @example
 * ```ts ignore
 * import { run } from "../../mod.ts";
 * import { SampleEngine } from "../../engines/sample/mod.ts";
 * await run(SampleEngine, ["--delay-ms", "5"]);
 * ```
 */
export async function run(
  factory: EngineFactory,
  argv: string[],
  options: RunOptions = {},
): Promise<never> {
  const runtime = options.runtime ?? currentRuntime();
  const logger = options.logger ?? createLogger({ level: parseLogLevel(runtime.env("DYN_LOG")) });
  let planes: Planes | undefined;
  const signals = installShutdownSignals(runtime, { logger });
  // Shutdown is requested by a signal, or by a failure after serving began.
  let requestShutdown: () => void = () => {};
  const shutdownRequested = new Promise<void>((resolve) => {
    requestShutdown = resolve;
    signals.requested.then(resolve);
  });
  const exit = async (code: number): Promise<never> => {
    // Past the shutdown deadline nothing more is awaited: a stuck transport must not
    // delay the forced exit. Otherwise closing the planes is bounded too.
    if (planes && code !== SHUTDOWN_DEADLINE_EXIT) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        closePlanes(planes),
        new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS))),
      ]);
      clearTimeout(timer);
    }
    signals.dispose();
    return runtime.exit(code);
  };
  const exitCodeFor = (error: unknown) => toSluiceError(error).kind === "InvalidArgument" ? 2 : 1;

  let setup;
  let timings;
  let healthCheckPayloadFromEnv;
  let config;
  try {
    setup = await factory.fromArgs(argv);
    config = parseWorkerConfig(setup.worker);
    timings = workerTimingsFromEnv(runtime.env);
    healthCheckPayloadFromEnv = await healthPayloadFromEnv(runtime);
  } catch (error) {
    logger.error(toSluiceError(error).message);
    return exit(exitCodeFor(error));
  }
  try {
    planes = await connectPlanes(config, runtime.env, options.connectors);
  } catch (error) {
    logger.error(toSluiceError(error).message);
    return exit(1);
  }
  const worker: Worker = createWorker({
    engine: setup.engine,
    config,
    discovery: planes.discovery,
    requestPlane: planes.requestPlane,
    logger,
    timings,
    healthCheckPayloadFromEnv,
    unrefTimer: runtime.unrefTimer,
    readFile: runtime.readFile,
    ...options.worker,
  });
  const started = worker.start();
  const outcome = await Promise.race([
    started.then(() => "started" as const, (error) => error),
    shutdownRequested.then(() => "signalled" as const),
  ]);
  if (outcome !== "started" && outcome !== "signalled") {
    logger.error(toSluiceError(outcome).message);
    return exit(exitCodeFor(outcome));
  }
  if (outcome === "started") {
    try {
      await options.onServing?.(worker, planes);
    } catch (error) {
      logger.error(`Cannot finish serving setup: ${toSluiceError(error).message}`);
      requestShutdown();
    }
    await shutdownRequested;
  }
  let code: number;
  try {
    code = await worker.shutdown();
  } catch (error) {
    logger.error(`Cannot shut down cleanly: ${toSluiceError(error).message}`);
    code = 1;
  }
  // A start that failed after the signal arrived still counts as a failure.
  const failure = await started.then(() => undefined, (error) => error);
  return exit(failure !== undefined && code === 0 ? exitCodeFor(failure) : code);
}
