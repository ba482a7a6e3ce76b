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
import { parseWorkerConfig, type WorkerConfig } from "../engine/worker_config.ts";
import { parseJsonObject } from "../engine/engine_args.ts";
import { createLogger, type Logger, parseLogLevel } from "../logging/logger.ts";
import { currentRuntime, type Runtime } from "../runtime/runtime.ts";
import { installShutdownSignals } from "../runtime/shutdown_signals.ts";
import { closePlanes, connectPlanes, type PlaneConnectors, type Planes } from "./planes.ts";
import {
  planeAddresses,
  planeEnv,
  type PlaneNames,
  resolvePlaneNames,
  takePlaneFlags,
} from "./plane_flags.ts";
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
  /**
   * Plane backends by name (default `builtinConnectors()`). Which ones connect: the flags
   * `--discovery-backend`, `--request-plane`, `--event-plane` (and `--nats-server`), else
   * `DYN_DISCOVERY_BACKEND`, `DYN_REQUEST_PLANE`, `DYN_EVENT_PLANE`, else what the engine's
   * `WorkerConfig` names, else Dynamo's defaults: etcd discovery, NATS request and event planes.
   */
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

/** The startup line naming the planes; it says so when nothing outside the process can reach it. */
export function planesLine(
  config: Pick<WorkerConfig, "discovery_backend" | "request_plane" | "event_plane">,
): string {
  const line = `worker planes: discovery ${config.discovery_backend}, request plane ` +
    `${config.request_plane}, event plane ${config.event_plane}`;
  if (config.discovery_backend !== "memory" || config.request_plane !== "inprocess") return line;
  return `${line} (process-local: nothing outside this process can reach this worker; ` +
    "serve the engine over HTTP with `sluice serve --engine <module>` or `serveEngine`)";
}

/**
 * Runs an engine as a worker process until a signal ends it, then exits the process.
 * Exit codes: 0 after a clean shutdown, 911 when the shutdown deadline passed, 2 for bad
 * flags, 1 when a dependency or `start()` failed, 130 on a second signal.
 *
 * Public as `runWorker` in `sluice/serve`; `sluice` exports it without options as `run`.
 *
 * @example
 * ```ts ignore
 * import { runWorker } from "sluice/serve";
 * import { SampleEngine } from "sluice/engines/sample";
 * await runWorker(SampleEngine, ["--delay-ms", "5"], { logger: createLogger({ level: "warn" }) });
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
  let env = runtime.env;
  try {
    const { planes: planeFlags, rest } = takePlaneFlags(argv);
    env = planeEnv(planeFlags, runtime.env);
    setup = await factory.fromArgs(rest);
    const explicit: Partial<PlaneNames> = {};
    const engineConfig = setup.worker as Partial<PlaneNames>;
    for (const key of ["discovery_backend", "request_plane", "event_plane"] as const) {
      if (engineConfig[key] !== undefined) explicit[key] = engineConfig[key];
    }
    config = parseWorkerConfig({
      ...setup.worker,
      ...resolvePlaneNames(planeFlags, runtime.env, explicit),
    });
    timings = workerTimingsFromEnv(runtime.env);
    healthCheckPayloadFromEnv = await healthPayloadFromEnv(runtime);
  } catch (error) {
    logger.error(toSluiceError(error).message);
    return exit(exitCodeFor(error));
  }
  logger.info(`worker connecting: ${planeAddresses(config, env)}`);
  try {
    planes = await connectPlanes(config, env, options.connectors);
  } catch (error) {
    logger.error(toSluiceError(error).message);
    return exit(1);
  }
  logger.info(planesLine(config), {
    discovery: config.discovery_backend,
    request_plane: config.request_plane,
    event_plane: config.event_plane,
  });
  const worker: Worker = createWorker({
    engine: setup.engine,
    config,
    discovery: planes.discovery,
    requestPlane: planes.requestPlane,
    eventPlane: planes.eventPlane,
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
