/**
 * `sluice serve`: the embedded default. An OpenAI-compatible HTTP frontend, one or
 * more workers and the engine in one process over the in-process planes.
 *
 *     sluice serve [--engine sample] [--port 8000] [serve flags] [engine flags]
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { intFlag } from "../engine/engine_args.ts";
import { SluiceError } from "../errors/sluice_error.ts";
import { createLogger, parseLogLevel } from "../logging/logger.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { RouterMode } from "../router/routing_policy.ts";
import { createEmbeddedServer, DEFAULT_PORT } from "../serve/embedded_server.ts";
import type { EmbeddedServer } from "../serve/embedded_server.ts";
import { installShutdownSignals } from "../runtime/shutdown_signals.ts";
import { type EngineEntry, ENGINES } from "./engine_table.ts";
import { takeEngineFlag } from "./worker_command.ts";
import { enginesHelp } from "./engine_table.ts";
import { type WorkerTimings, workerTimingsFromEnv } from "../worker/worker_timings.ts";

/** The flags `serve` itself takes besides `--engine`; every other flag goes to the engine. */
const SERVE_OPTIONS = {
  port: { type: "string" },
  host: { type: "string" },
  workers: { type: "string" },
  "router-mode": { type: "string" },
  "max-inflight-per-worker": { type: "string" },
  "max-body-bytes": { type: "string" },
  "api-key": { type: "string" },
  "public-paths": { type: "string" },
  "allowed-origins": { type: "string" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;
type ServeFlag = "engine" | keyof typeof SERVE_OPTIONS;

/** Help text of the serve command. */
export function serveHelp(): string {
  return `Usage: sluice serve [--engine NAME] [flags]

Serves an engine behind an OpenAI-compatible HTTP API (POST /v1/chat/completions,
POST /v1/completions, GET /v1/models, /health, /live, /metrics), with the frontend, the
workers and the engine in one process (in-process planes, no servers). SIGINT/SIGTERM
shut down gracefully (streams in flight finish; during engine start, the engines finish
starting, clean up and never serve); a second signal exits at once (code 130). Past the
grace period plus the shutdown timeout, streams still in flight are cut (an error frame,
then [DONE]) and the process exits with 911.

Serve flags:
  --engine NAME                    engine to run (default sample)
  --port N                         HTTP port (default ${DEFAULT_PORT}; 0 picks a free one)
  --host ADDR                      interface to bind (default 0.0.0.0)
  --workers N                      workers, each with its own engine (default 1)
  --router-mode MODE               ${Object.values(RouterMode).join(" | ")} (default round-robin)
  --max-inflight-per-worker N      admission limit per worker (default unlimited); 503 when all are busy
  --max-body-bytes N               largest request body (default 8388608)
  --api-key KEY                    require "Authorization: Bearer KEY" (default: $SLUICE_API_KEY;
                                   unset = no key); 401 with an OpenAI error body otherwise
  --public-paths LIST              comma-separated paths open without the key
                                   (default /health,/live,/metrics; "" = none)
  --allowed-origins LIST           CORS: comma-separated origins, or * (default: no CORS)

Request bodies are accepted only as JSON (content-type: application/json); others get 415.

Environment: SLUICE_API_KEY, DYN_LOG, DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS (0 for serve),
DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT (30), DYN_CANARY_WAIT_TIME (10).

${enginesHelp()}

Example:
  sluice serve --engine sample --delay-ms 0
  curl localhost:${DEFAULT_PORT}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"sample-model","messages":[{"role":"user","content":"Hi"}],"max_tokens":8}'`;
}

/**
 * Splits the serve flags from the engine flags: `--engine` as `sluice worker` reads it
 * ({@linkcode takeEngineFlag}), the other serve flags with `node:util` `parseArgs` (as the
 * engines parse theirs); everything else is passed to the engine in its original order.
 * @throws {SluiceError} `InvalidArgument` when a serve flag has no value.
 */
export function parseServeArgs(
  argv: string[],
): { serve: Partial<Record<ServeFlag, string>>; engineArgs: string[] } {
  const { engine, rest } = takeEngineFlag(argv);
  const serve: Partial<Record<ServeFlag, string>> = {};
  if (engine !== undefined) serve.engine = engine;
  const { tokens } = parseArgs({
    args: rest,
    options: SERVE_OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const taken = new Set<number>();
  for (const token of tokens) {
    if (token.kind !== "option" || !Object.hasOwn(SERVE_OPTIONS, token.name)) continue;
    if (!token.rawName.startsWith("--")) continue;
    const value = token.value;
    if (value === undefined || (!token.inlineValue && value.startsWith("--"))) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot parse ${token.rawName}: a value is required`,
        {
          param: token.rawName,
        },
      );
    }
    serve[token.name as ServeFlag] = value;
    taken.add(token.index);
    if (!token.inlineValue) taken.add(token.index + 1);
  }
  return { serve, engineArgs: rest.filter((_, i) => !taken.has(i)) };
}

/** Options for {@linkcode serveCommand}. */
export interface ServeCommandOptions {
  /** The engines `--engine` names (default the built-in {@linkcode ENGINES}). */
  engines?: Record<string, EngineEntry>;
}

/**
 * Runs `sluice serve` until SIGINT/SIGTERM, then exits the process: 0 after a clean
 * shutdown (also when the signal came while the engines were starting: they finish
 * starting, clean up and never serve), 911 when the shutdown deadline passed, 130 on a
 * second signal.
 */
export async function serveCommand(
  argv: string[],
  runtime: Runtime,
  options: ServeCommandOptions = {},
): Promise<never> {
  const engines = options.engines ?? ENGINES;
  const { serve, engineArgs } = parseServeArgs(argv);
  const engineName = serve.engine ?? "sample";
  const entry = engines[engineName];
  if (entry === undefined) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse --engine: unknown engine "${engineName}" (known: ${
        Object.keys(engines).join(", ")
      })`,
      { param: "--engine" },
    );
  }
  const routerMode = serve["router-mode"] ?? RouterMode.roundRobin;
  if (!(Object.values(RouterMode) as string[]).includes(routerMode)) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse --router-mode: unknown mode "${routerMode}" (known: ${
        Object.values(RouterMode).join(", ")
      })`,
      { param: "--router-mode" },
    );
  }
  const port = intFlag(serve, "port", DEFAULT_PORT, 0);
  const workers = intFlag(serve, "workers", 1, 1);
  const optionalInt = (flag: ServeFlag) =>
    serve[flag] === undefined ? undefined : intFlag(serve, flag, 0, 1);
  const maxInflightPerWorker = optionalInt("max-inflight-per-worker");
  const maxBodyBytes = optionalInt("max-body-bytes");
  const apiKey = serve["api-key"] ?? runtime.env("SLUICE_API_KEY");
  if (apiKey !== undefined && apiKey !== "" && apiKey.trim() !== apiKey) {
    throw new SluiceError("InvalidArgument", "Cannot parse --api-key: leading or trailing spaces", {
      param: "--api-key",
    });
  }
  const list = (flag: ServeFlag) =>
    serve[flag]?.split(",").map((v) => v.trim()).filter((v) => v !== "");
  const publicPaths = list("public-paths");
  const badPath = publicPaths?.find((p) => !p.startsWith("/"));
  if (badPath !== undefined) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse --public-paths: "${badPath}" is not a path (it must start with /)`,
      { param: "--public-paths" },
    );
  }
  const allowedOrigins = list("allowed-origins");
  const logger = createLogger({ level: parseLogLevel(runtime.env("DYN_LOG")) });
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
        engine: entry.factory,
        engineArgs,
        port,
        hostname: serve.host,
        workers,
        routerMode,
        maxInflightPerWorker,
        maxBodyBytes,
        logger,
        timings,
        apiKey: apiKey === "" ? undefined : apiKey,
        publicPaths,
        allowedOrigins,
        readTextFile: runtime.readTextFile,
        readFile: runtime.readFile,
        readFileRange: runtime.readFileRange,
        unrefTimer: runtime.unrefTimer,
        signal: signals.signal,
      });
    } catch (error) {
      if (!signals.signal.aborted || error !== signals.signal.reason) throw error;
      console.log("sluice serve: stopped before serving (exit code 0)");
      return runtime.exit(0);
    }
    const models = server.frontend.table.models().join(", ");
    console.log(
      `sluice serve: listening on http://${server.http.hostname}:${server.http.port} ` +
        `(${server.url}; engine ${engineName}, ${server.workers.length} worker(s), model ${models}` +
        `${apiKey ? "; API key required" : ""})`,
    );
    await signals.requested;
    code = await server.shutdown();
  } finally {
    signals.dispose();
  }
  console.log(`sluice serve: stopped (exit code ${code})`);
  return runtime.exit(code);
}
