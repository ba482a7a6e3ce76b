/**
 * The engine table: the engines the `sluice` command line and the edge entry run, by
 * name, with their flag help. A name not in the table is an engine module (a path such
 * as `./my_engine.ts`, or a package specifier), loaded by {@linkcode resolveEngine}: built-in
 * and module engines are picked the same way. Adding a built-in engine is one entry in
 * {@linkcode ENGINES}.
 *
 * @module
 */
import type { EngineFactory } from "../../src/engine/engine.ts";
import { SampleEngine } from "../../engines/sample/mod.ts";
import { loadEngineModule } from "./engine_module.ts";

/** One engine the CLI can run. */
export interface EngineEntry {
  factory: EngineFactory;
  summary: string;
  flags: string;
}

/** Flags every engine accepts (the worker's). */
export const WORKER_FLAGS_HELP = `Worker flags (every engine):
  --namespace NAME             discovery namespace (default dynamo)
  --component NAME             component name (default backend)
  --endpoint NAME              endpoint name (default generate)
  --served-model-name NAME     model name clients use
  --migration-limit N          resend a stream that breaks off (worker died, connection lost)
                               to another worker up to N times (model card; default 0 = off)
  --max-inflight-requests N    refuse requests beyond N in flight ("worker overloaded")
  --health-check-payload JSON  canary request (overrides DYN_HEALTH_CHECK_PAYLOAD)
  --custom-jinja-template STR  chat template published in the model card`;

/** Built-in engines by name. */
export const ENGINES: Record<string, EngineEntry> = {
  sample: {
    factory: SampleEngine,
    summary: "rotating-token reference engine (token i = (i+1) % 32000)",
    flags: `Sample engine flags:
  --model-name NAME   model name (default sample-model)
  --max-tokens N      tokens per request when the request sets none (default 16)
  --delay-ms N        delay before each token in ms (default 10)`,
  },
};

/** The engine `--engine` picks when it is absent. */
export const DEFAULT_ENGINE = "sample";

/** An engine picked by name or module: what the commands serve. */
export interface ResolvedEngine {
  /** The built-in name, or the module specifier as given. */
  name: string;
  factory: EngineFactory;
  /** True when it came from a module rather than the table. */
  fromModule: boolean;
}

/**
 * Picks an engine: a built-in name from {@linkcode ENGINES}, otherwise an engine module
 * (see `loadEngineModule` for the errors: `InvalidArgument` for a missing file or a module
 * without a usable export, `Unknown` when the module throws on import).
 */
export async function resolveEngine(spec: string): Promise<ResolvedEngine> {
  const entry = Object.hasOwn(ENGINES, spec) ? ENGINES[spec] : undefined;
  if (entry !== undefined) return { name: spec, factory: entry.factory, fromModule: false };
  const factory = await loadEngineModule(spec, Object.keys(ENGINES));
  return { name: spec, factory, fromModule: true };
}

/**
 * The "Engines:" section of `--help`: each engine, its summary, then its flags. With a
 * module engine, that engine's own `flagsHelp` (when it declares one) comes first.
 */
export function enginesHelp(engine?: ResolvedEngine): string {
  const engines = Object.entries(ENGINES).map(([name, e]) => `  ${name.padEnd(10)} ${e.summary}`)
    .join("\n");
  const flags = Object.values(ENGINES).map((e) => e.flags).join("\n\n");
  const table = `Engines:\n${engines}\n\n${flags}\n\n${WORKER_FLAGS_HELP}`;
  if (engine === undefined || !engine.fromModule) return table;
  const own = engine.factory.flagsHelp?.trimEnd();
  const section = own === undefined || own === ""
    ? `Engine ${engine.name}: declares no flag help (a static flagsHelp string)`
    : `Engine ${engine.name} flags:\n${own}`;
  return `${section}\n\n${WORKER_FLAGS_HELP}`;
}
