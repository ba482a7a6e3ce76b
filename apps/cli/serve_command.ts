/**
 * `sluice serve`: the embedded default. An OpenAI-compatible HTTP frontend, one or
 * more workers and the engine in one process over the in-process planes.
 *
 *     sluice serve [--engine sample | ./my_engine.ts | package] [--port 8000] [serve flags] [engine flags]
 *
 * @module
 */
import type { Runtime } from "../../src/runtime/runtime.ts";
import { DEFAULT_PORT } from "../../src/serve/embedded_server.ts";
import {
  parseServeArgs as parseServeFlags,
  SERVE_FLAGS_HELP,
  serveEngine,
  type ServeFlag,
} from "../../src/serve/serve_engine.ts";
import {
  DEFAULT_ENGINE,
  engineHelp,
  type ResolvedEngine,
  resolveEngine,
} from "./resolve_engine.ts";
import { takeEngineFlag } from "./worker_command.ts";

/** Help text of the serve command; with a module `--engine`, that engine's flags. */
export function serveHelp(engine?: ResolvedEngine): string {
  return `Usage: sluice serve [--engine NAME|MODULE] [flags]

Serves an engine behind an OpenAI-compatible HTTP API (POST /v1/chat/completions,
POST /v1/completions, GET /v1/models, /health, /live, /metrics), with the frontend, the
workers and the engine in one process (in-process planes, no servers). SIGINT/SIGTERM
shut down gracefully (streams in flight finish; during engine start, the engines finish
starting, clean up and never serve); a second signal exits at once (code 130). Past the
grace period plus the shutdown timeout, streams still in flight are cut (an error frame,
then [DONE]) and the process exits with 911.
Exit codes: 0 after a clean shutdown, 2 for bad flags or an unusable engine module,
1 when the engine fails to load or start, 911 past the shutdown deadline.

  --engine NAME|MODULE             a built-in engine (default ${DEFAULT_ENGINE}), or a module that
                                   exports an engine class with a static fromArgs(argv):
                                   ./path/to/my_engine.ts, a package specifier, or MODULE#Export
${SERVE_FLAGS_HELP}

${engineHelp(engine)}

Example:
  sluice serve --engine sample --delay-ms 0
  sluice serve --engine ./my_engine.ts --port 8000
  curl localhost:${DEFAULT_PORT}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"sample-model","messages":[{"role":"user","content":"Hi"}],"max_tokens":8}'`;
}

/**
 * Splits `--engine` (as `sluice worker` reads it, {@linkcode takeEngineFlag}) and the serve
 * flags from the engine flags; the engine flags keep their original order.
 * @throws {SluiceError} `InvalidArgument` when a serve flag has no value.
 */
export function parseServeArgs(
  argv: string[],
): { serve: Partial<Record<ServeFlag | "engine", string>>; engineArgs: string[] } {
  const { engine, rest } = takeEngineFlag(argv);
  const { serve, engineArgs } = parseServeFlags(rest);
  return { serve: engine === undefined ? serve : { engine, ...serve }, engineArgs };
}

/**
 * Runs `sluice serve` until SIGINT/SIGTERM, then exits the process (see
 * `serveEngine` for the exit codes). `--engine` is looked up in the engine table: a
 * built-in name, or a module path / package specifier.
 */
export async function serveCommand(argv: string[], runtime: Runtime): Promise<never> {
  const { engine = DEFAULT_ENGINE, rest } = takeEngineFlag(argv);
  const entry = await resolveEngine(engine);
  return await serveEngine(entry.factory, rest, { runtime, engineName: entry.name });
}
