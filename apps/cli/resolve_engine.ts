/**
 * Picking the engine `--engine` names (and `SLUICE_ENGINE` for the edge entry): a built-in
 * name from the engine table ({@linkcode ENGINES}), otherwise an engine module (a path such
 * as `./my_engine.ts`, a package specifier, or `MODULE#Export`) loaded by
 * `loadEngineModule`. The CLI, the edge entry and the tests pick engines through
 * {@linkcode resolveEngine}.
 *
 * @module
 */
import type { EngineFactory } from "../../src/engine/engine.ts";
import { loadEngineModule } from "./engine_module.ts";
import { ENGINES, enginesHelp, WORKER_FLAGS_HELP } from "./engine_table.ts";

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
 * The engine section of `--help`: the engine table ({@linkcode enginesHelp}), or for a module
 * engine its own `flagsHelp` (when it declares one) and the worker flags.
 */
export function engineHelp(engine?: ResolvedEngine): string {
  if (engine === undefined || !engine.fromModule) return enginesHelp();
  const own = engine.factory.flagsHelp?.trimEnd();
  const section = own === undefined || own === ""
    ? `Engine ${engine.name}: declares no flag help (a static flagsHelp string)`
    : `Engine ${engine.name} flags:\n${own}`;
  return `${section}\n\n${WORKER_FLAGS_HELP}`;
}
