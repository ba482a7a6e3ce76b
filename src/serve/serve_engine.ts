/**
 * `serveEngine(EngineClass, argv)`: the embedded default in one call. An OpenAI-compatible
 * HTTP frontend, one or more workers and the engine in this process over the in-process
 * planes, until SIGINT/SIGTERM; then the process exits. This is what `sluice serve` runs
 * once it has resolved `--engine`, and what an engine file calls to serve itself:
 *
 *     if (import.meta.main) await serveEngine(EchoEngine, process.argv.slice(2));
 *
 * @module
 */
import type { ParseArgsConfig } from "node:util";
import { takeFlags } from "../engine/take_flags.ts";
import type { EngineFactory } from "../engine/engine.ts";
import { intFlag } from "../engine/engine_args.ts";
import { toSluiceError } from "../errors/sluice_error.ts";
import { createLogger, type Logger, parseLogLevel } from "../logging/logger.ts";
import { currentRuntime, type Runtime } from "../runtime/runtime.ts";
import { createEmbeddedServer } from "./embedded_server.ts";
import { FRONTEND_FLAGS_HELP, FRONTEND_OPTIONS, frontendSettings } from "./frontend_flags.ts";
import type { EmbeddedServer } from "./embedded_server.ts";
import { installShutdownSignals } from "../runtime/shutdown_signals.ts";
import { type WorkerTimings, workerTimingsFromEnv } from "../worker/worker_timings.ts";

/** The flags serving takes; every other flag goes to the engine. */
const SERVE_OPTIONS = {
  ...FRONTEND_OPTIONS,
  workers: { type: "string" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

/** The name of a serve flag (without `--`). */
export type ServeFlag = keyof typeof SERVE_OPTIONS;

/** The serve flags and their meaning, then the environment, as `--help` prints them. */
export const SERVE_FLAGS_HELP: string = `Serve flags:
${FRONTEND_FLAGS_HELP}
  --workers N                      workers, each with its own engine (default 1)

Request bodies are accepted only as JSON (content-type: application/json); others get 415.

Environment: SLUICE_API_KEY, DYN_LOG, DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS (0 for serve),
DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT (30), DYN_CANARY_WAIT_TIME (10).`;

/**
 * Splits the serve flags from the engine flags with `takeFlags` (`node:util` `parseArgs`, as the engines
 * parse theirs); everything else is passed to the engine in its original order.
 * @throws {SluiceError} `InvalidArgument` when a serve flag has no value.
 */
export function parseServeArgs(
  argv: string[],
): { serve: Partial<Record<ServeFlag, string>>; engineArgs: string[] } {
  const { values, rest } = takeFlags(argv, SERVE_OPTIONS);
  return { serve: values, engineArgs: rest };
}

/** Options for {@linkcode serveEngine}. */
export interface ServeEngineOptions {
  /** Signals, environment, files and exit; the current runtime (Deno, Bun, Node) when absent. */
  runtime?: Runtime;
  /** The engine's name in the startup line (default the factory's class name). */
  engineName?: string;
  /** Prefix of every line printed (default `sluice serve`). */
  label?: string;
  /** Logger; default: level from `DYN_LOG`, to stderr. */
  logger?: Logger;
}

/**
 * Serves the engine built by `factory.fromArgs(engineFlags)` behind the OpenAI API until
 * SIGINT/SIGTERM, then exits the process. `argv` holds the serve flags
 * ({@linkcode SERVE_FLAGS_HELP}) mixed with the engine's own flags. It MUST be called at most
 * once per process and never returns. Exit codes: 0 after a clean shutdown (also when the
 * signal came while the engines were starting: they finish starting, clean up and never
 * serve), 911 when the shutdown deadline passed, 130 on a second signal, 2 for bad flags,
 * 1 when the engine failed to start.
 *
 * @example
 * ```ts ignore
 * import { serveEngine } from "sluice/serve";
 * import { EchoEngine } from "./my_engine.ts";
 * await serveEngine(EchoEngine, ["--port", "8000", "--delay-ms", "0"]);
 * ```
 */
export async function serveEngine(
  factory: EngineFactory,
  argv: string[],
  options: ServeEngineOptions = {},
): Promise<never> {
  const runtime = options.runtime ?? currentRuntime();
  const label = options.label ?? "sluice serve";
  try {
    return await serveUntilSignal(factory, argv, runtime, label, options);
  } catch (error) {
    const typed = toSluiceError(error);
    console.error(`${label}: ${typed.message}`);
    return runtime.exit(typed.kind === "InvalidArgument" ? 2 : 1);
  }
}

async function serveUntilSignal(
  factory: EngineFactory,
  argv: string[],
  runtime: Runtime,
  label: string,
  options: ServeEngineOptions,
): Promise<never> {
  const { serve, engineArgs } = parseServeArgs(argv);
  const engineName = options.engineName ?? ((factory as { name?: string }).name || "engine");
  const settings = frontendSettings(serve, runtime.env);
  const workers = intFlag(serve, "workers", 1, 1);
  const logger = options.logger ??
    createLogger({ level: parseLogLevel(runtime.env("DYN_LOG")) });
  // Shutdown timings as `sluice worker` reads them; the grace period stays 0 unless set
  // (the only router is in this process and stops routing to a worker at once).
  const envTimings = workerTimingsFromEnv(runtime.env);
  const timings: Partial<WorkerTimings> = {
    shutdownTimeoutMs: envTimings.shutdownTimeoutMs,
    canaryWaitMs: envTimings.canaryWaitMs,
  };
  const grace = runtime.env("DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS");
  if (grace !== undefined && grace !== "") timings.gracePeriodMs = envTimings.gracePeriodMs;
  // Before anything starts: a signal during a slow engine start must not kill the process.
  const signals = installShutdownSignals(runtime, { logger });
  let code: number;
  try {
    let server: EmbeddedServer;
    try {
      server = await createEmbeddedServer({
        engine: factory,
        engineArgs,
        ...settings,
        workers,
        logger,
        timings,
        readTextFile: runtime.readTextFile,
        readFile: runtime.readFile,
        readFileRange: runtime.readFileRange,
        unrefTimer: runtime.unrefTimer,
        signal: signals.signal,
      });
    } catch (error) {
      if (!signals.signal.aborted || error !== signals.signal.reason) throw error;
      console.log(`${label}: stopped before serving (exit code 0)`);
      return runtime.exit(0);
    }
    const models = server.frontend.table.models().join(", ");
    console.log(
      `${label}: listening on http://${server.http.hostname}:${server.http.port} ` +
        `(${server.url}; engine ${engineName}, ${server.workers.length} worker(s), model ${models}` +
        `${settings.apiKey ? "; API key required" : ""})`,
    );
    await signals.requested;
    code = await server.shutdown();
  } finally {
    signals.dispose();
  }
  console.log(`${label}: stopped (exit code ${code})`);
  return runtime.exit(code);
}
