/**
 * `sluice serve`: the embedded default. An OpenAI-compatible HTTP frontend, one or
 * more workers and the engine in one process over the in-process planes.
 *
 *     sluice serve [--engine sample] [--port 8000] [serve flags] [engine flags]
 *
 * @module
 */
import { SluiceError } from "../errors/sluice_error.ts";
import { createLogger, parseLogLevel } from "../logging/logger.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { RouterMode } from "../router/routing_policy.ts";
import { createEmbeddedServer, DEFAULT_PORT } from "../serve/embedded_server.ts";
import type { EmbeddedServer } from "../serve/embedded_server.ts";
import { installShutdownSignals } from "../serve/shutdown_signals.ts";
import { type EngineEntry, ENGINES, WORKER_FLAGS_HELP } from "./engine_table.ts";

/** The flags `serve` itself takes; every other flag goes to the engine. */
const SERVE_FLAGS = [
  "engine",
  "port",
  "host",
  "workers",
  "router-mode",
  "max-inflight-per-worker",
  "max-body-bytes",
] as const;
type ServeFlag = typeof SERVE_FLAGS[number];

/** Help text of the serve command. */
export function serveHelp(): string {
  const engines = Object.entries(ENGINES).map(([name, e]) => `  ${name.padEnd(10)} ${e.summary}`)
    .join("\n");
  const flags = Object.values(ENGINES).map((e) => e.flags).join("\n\n");
  return `Usage: sluice serve [--engine NAME] [flags]

Serves an engine behind an OpenAI-compatible HTTP API (POST /v1/chat/completions,
POST /v1/completions, GET /v1/models, /health, /live, /metrics), with the frontend, the
workers and the engine in one process (in-process planes, no servers). SIGINT/SIGTERM
shut down gracefully (streams in flight finish; during engine start, the engines finish
starting, clean up and never serve); a second signal exits at once (code 130).

Serve flags:
  --engine NAME                    engine to run (default sample)
  --port N                         HTTP port (default ${DEFAULT_PORT}; 0 picks a free one)
  --host ADDR                      interface to bind (default 0.0.0.0)
  --workers N                      workers, each with its own engine (default 1)
  --router-mode MODE               ${Object.values(RouterMode).join(" | ")} (default round-robin)
  --max-inflight-per-worker N      admission limit per worker (default unlimited); 503 when all are busy
  --max-body-bytes N               largest request body (default 8388608)

Engines:
${engines}

${flags}

${WORKER_FLAGS_HELP}

Example:
  sluice serve --engine sample --delay-ms 0
  curl localhost:${DEFAULT_PORT}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"sample-model","messages":[{"role":"user","content":"Hi"}],"max_tokens":8}'`;
}

/** Splits the serve flags from the engine flags. */
export function parseServeArgs(
  argv: string[],
): { serve: Partial<Record<ServeFlag, string>>; engineArgs: string[] } {
  const serve: Partial<Record<ServeFlag, string>> = {};
  const engineArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf("=");
    const name = (eq === -1 ? arg : arg.slice(0, eq)).replace(/^--/, "") as ServeFlag;
    if (!arg.startsWith("--") || !SERVE_FLAGS.includes(name)) {
      engineArgs.push(arg);
      continue;
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || (eq === -1 && value.startsWith("--"))) {
      throw new SluiceError("InvalidArgument", `Cannot parse --${name}: a value is required`, {
        param: `--${name}`,
      });
    }
    serve[name] = value;
  }
  return { serve, engineArgs };
}

function intValue(
  raw: string | undefined,
  flag: string,
  fallback: number | undefined,
  min: number,
) {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(value) || value < min) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse --${flag}: expected an integer >= ${min}, got "${raw}"`,
      { param: `--${flag}` },
    );
  }
  return value;
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
  const port = intValue(serve.port, "port", DEFAULT_PORT, 0);
  const workers = intValue(serve.workers, "workers", 1, 1);
  const maxInflightPerWorker = intValue(
    serve["max-inflight-per-worker"],
    "max-inflight-per-worker",
    undefined,
    1,
  );
  const maxBodyBytes = intValue(serve["max-body-bytes"], "max-body-bytes", undefined, 1);
  const logger = createLogger({ level: parseLogLevel(runtime.env("DYN_LOG")) });
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
        readTextFile: runtime.readTextFile,
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
        `(${server.url}; engine ${engineName}, ${server.workers.length} worker(s), model ${models})`,
    );
    await signals.requested;
    code = await server.shutdown();
  } finally {
    signals.dispose();
  }
  console.log(`sluice serve: stopped (exit code ${code})`);
  return runtime.exit(code);
}
