/**
 * `sluice/serve`: hosting engines. {@linkcode serveEngine} serves an engine class over
 * HTTP in one call (the embedded default: OpenAI frontend, workers and engine in this
 * process); `createEmbeddedServer` / `createEmbeddedStack` are the same with every option;
 * `createEdgeHandler` is the `{ fetch }` form for serverless hosts; `createWorker` embeds a
 * single worker on planes you bring.
 *
 * @example
 * ```ts ignore
 * import { serveEngine } from "sluice/serve";
 * import { EchoEngine } from "./my_engine.ts";
 * await serveEngine(EchoEngine, ["--delay-ms", "0"], { port: 8000 });
 * ```
 *
 * @module
 */
export { serveEngine } from "./src/serve/serve_engine.ts";
export type { ServeEngineOptions } from "./src/serve/serve_engine.ts";
export * from "./src/serve/mod.ts";
export * from "./src/edge/mod.ts";
export { createWorker, SHUTDOWN_DEADLINE_EXIT, workerTimingsFromEnv } from "./src/worker/worker.ts";
export type { Worker, WorkerOptions, WorkerState, WorkerTimings } from "./src/worker/worker.ts";
export {
  DEFAULT_BUCKETS,
  MetricsRegistry,
  TOKEN_LATENCY_BUCKETS,
} from "./src/metrics/metrics_registry.ts";
export type { Labels } from "./src/metrics/metrics_registry.ts";
export { createLogger, parseLogLevel } from "./src/logging/logger.ts";
export type { Logger, LogLevelName } from "./src/logging/logger.ts";
export { currentRuntime } from "./src/runtime/runtime.ts";
export type { Runtime, SignalName } from "./src/runtime/runtime.ts";
