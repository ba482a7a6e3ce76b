/**
 * Loading an engine from a module: `sluice serve --engine ./my_engine.ts` (or a package
 * specifier, or `MODULE#ExportName`). The module MUST export an engine class (anything
 * with a static `fromArgs(argv)`) as the default export or as its only such named export.
 *
 * @module
 */
import { statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { EngineFactory } from "../../src/engine/engine.ts";
import { SluiceError } from "../../src/errors/sluice_error.ts";
import { provideModules } from "../../src/runtime/module_provider.ts";

/**
 * The library's public entries, as an engine module imports them: given to it from this
 * process (Bun; also inside a compiled binary), so the module and the command share one copy.
 */
const SLUICE_ENTRIES = {
  "sluice": () => import("../../mod.ts"),
  "sluice/planes": () => import("../../src/entries/planes.ts"),
  "sluice/frontend": () => import("../../src/entries/frontend.ts"),
  "sluice/serve": () => import("../../src/entries/serve.ts"),
  "sluice/gpu": () => import("../../src/entries/gpu.ts"),
  "sluice/testing": () => import("../../src/entries/testing.ts"),
  "sluice/engines/sample": () => import("../../engines/sample/mod.ts"),
};

const EXPECTED = "an engine class with a static fromArgs(argv) as the default export " +
  "or a named export";

/** True when `spec` names a file rather than a package: `./x`, `../x`, `/x`, `file:` or `x.ts`. */
function isPath(spec: string): boolean {
  return spec.startsWith("./") || spec.startsWith("../") || isAbsolute(spec) ||
    spec.startsWith("file:") || /\.(m?[jt]s|tsx?|jsx)$/.test(spec);
}

function isFactory(value: unknown): value is EngineFactory {
  return (typeof value === "function" || (typeof value === "object" && value !== null)) &&
    typeof (value as { fromArgs?: unknown }).fromArgs === "function";
}

/** The import specifier for `spec`: a file URL for paths (relative to the working directory). */
function importSpecifier(spec: string, known: string[]): string {
  if (!isPath(spec)) return spec;
  if (spec.startsWith("file:")) return spec;
  const path = resolve(spec);
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    isFile = false;
  }
  if (!isFile) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot load engine module "${spec}": no such file (${path}); --engine takes a built-in ` +
        `name (${known.join(", ")}) or a module path / package specifier`,
      { param: "--engine" },
    );
  }
  return pathToFileURL(path).href;
}

/**
 * Imports `spec` and returns its engine class.
 * @throws {SluiceError} `InvalidArgument` (exit 2) for a missing file, an unknown package,
 *   or a module without a usable export (the message names what was expected and what the
 *   module exports); `Unknown` (exit 1) when the module throws while it is imported.
 */
export async function loadEngineModule(spec: string, known: string[]): Promise<EngineFactory> {
  const hash = spec.lastIndexOf("#");
  const [path, exportName] = hash > 0 ? [spec.slice(0, hash), spec.slice(hash + 1)] : [spec, ""];
  const specifier = importSpecifier(path, known);
  provideModules(SLUICE_ENTRIES);
  let module: Record<string, unknown>;
  try {
    module = await import(specifier);
  } catch (error) {
    if (!isPath(path) && isNotFound(error, specifier)) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot parse --engine: unknown engine "${spec}" (known: ${known.join(", ")}; ` +
          `or a module path like ./my_engine.ts, or an installed package)`,
        { param: "--engine", cause: error },
      );
    }
    throw new SluiceError(
      "Unknown",
      `Cannot load engine module "${spec}": importing it threw: ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
  if (exportName !== "") {
    if (isFactory(module[exportName])) return module[exportName];
    throw unusable(spec, module, `export "${exportName}" is not an engine class`);
  }
  if (isFactory(module.default)) return module.default;
  const named = Object.keys(module).filter((name) => name !== "default" && isFactory(module[name]));
  // Several names for one class (an alias) are one engine.
  if (new Set(named.map((name) => module[name])).size === 1) {
    return module[named[0]] as EngineFactory;
  }
  if (named.length > 1) {
    throw unusable(
      spec,
      module,
      `it exports several (${named.join(", ")}); pick one with ${path}#${named[0]}`,
    );
  }
  throw unusable(spec, module, "none found");
}

function unusable(spec: string, module: Record<string, unknown>, why: string): SluiceError {
  const exports = Object.keys(module);
  return new SluiceError(
    "InvalidArgument",
    `Cannot use engine module "${spec}": expected ${EXPECTED}; ${why} (module exports: ${
      exports.length === 0 ? "nothing" : exports.join(", ")
    })`,
    { param: "--engine" },
  );
}

/**
 * A failed resolution of `specifier` itself (no such package), as Deno and Bun report it:
 * `ERR_MODULE_NOT_FOUND` naming it. A dependency of the module that is missing names the
 * dependency instead, and is a failed load (exit 1), not an unknown engine.
 */
function isNotFound(error: unknown, specifier: string): boolean {
  const code = (error as { code?: unknown })?.code;
  if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") return false;
  const message = error instanceof Error ? error.message : String(error);
  return message.includes(`"${specifier}"`) || message.includes(`'${specifier}'`);
}
