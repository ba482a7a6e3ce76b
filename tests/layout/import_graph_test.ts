/**
 * The library's import graph: dependencies run one way (the library, `src/` and the public
 * entries, never imports an app under `apps/` or an engine under `engines/`), and no
 * runtime import cycle exists in `src/` (type-only imports are erased and do not count), and
 * `src/gpu`'s groups import only downwards in {@link GPU_LAYERS} (type-only imports count here).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";

const ENTRIES = [
  "mod.ts",
  "src/entries/planes.ts",
  "src/entries/frontend.ts",
  "src/entries/serve.ts",
  "src/entries/gpu.ts",
  "src/entries/testing.ts",
];

/**
 * `src/gpu`'s groups, lowest first: a file imports (at run time or for types) only files of its
 * own group or of a group before it. `src/gpu/mod.ts` sits above them all.
 */
const GPU_LAYERS = ["device", "reference", "kernels", "compile", "ops", "backends", "llama"];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sourceFiles(join(dir, e.name))
      : e.name.endsWith(".ts")
      ? [join(dir, e.name)]
      : []
  );
}

/** Relative specifiers `file` imports or re-exports, type-only ones included. */
function allImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const statement = /^(?:import|export)\s+(?:type\s+)?[^;]*?\s*from\s+"(\.[^"]+)";/gms;
  const dynamic = /\bimport\(\s*"(\.[^"]+)"\s*\)/g;
  return [...text.matchAll(statement), ...text.matchAll(dynamic)].map(([, specifier]) =>
    normalize(join(dirname(file), specifier))
  );
}

/** The index in {@link GPU_LAYERS} of a file under `src/gpu/<group>/`, or undefined. */
function gpuLayer(file: string): number | undefined {
  const group = file.match(/^src\/gpu\/([a-z_]+)\//)?.[1];
  if (group === undefined) return undefined;
  const index = GPU_LAYERS.indexOf(group);
  return index < 0 ? undefined : index;
}

/** Relative specifiers `file` imports or re-exports at run time (type-only ones left out). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found: string[] = [];
  const statement = /^(?:import|export)\s+(type\s+)?([^;]*?)\s*from\s+"(\.[^"]+)";/gms;
  for (const [, typeOnly, clause, specifier] of text.matchAll(statement)) {
    if (typeOnly) continue;
    const names = clause.match(/^\{([^}]*)\}$/s)?.[1].split(",").map((n) => n.trim()).filter(
      Boolean,
    );
    if (names !== undefined && names.every((n) => n.startsWith("type "))) continue;
    found.push(normalize(join(dirname(file), specifier)));
  }
  for (const [, specifier] of text.matchAll(/\bimport\(\s*"(\.[^"]+)"\s*\)/g)) {
    found.push(normalize(join(dirname(file), specifier)));
  }
  return found;
}

describe("import graph", () => {
  const library = [...ENTRIES, ...sourceFiles("src")];

  it("the library never imports an app or an engine", () => {
    const outward = library.flatMap((file) =>
      runtimeImports(file).filter((d) => d.startsWith("apps/") || d.startsWith("engines/"))
        .map((d) => `${file} -> ${d}`)
    );
    assert.deepEqual(outward, []);
  });

  it("src/ has no runtime import cycle", () => {
    const graph = new Map(sourceFiles("src").map((f) => [f, runtimeImports(f)]));
    assert.ok(graph.size > 50, `${graph.size} files`);
    const state = new Map<string, "open" | "done">();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]) => {
      state.set(file, "open");
      for (const dep of graph.get(file) ?? []) {
        if (state.get(dep) === "open") {
          cycles.push([...path.slice(path.indexOf(dep)), dep].join(" -> "));
        } else if (!state.has(dep)) visit(dep, [...path, dep]);
      }
      state.set(file, "done");
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file, [file]);
    assert.deepEqual(cycles, []);
  });

  it("src/gpu holds only its groups and mod.ts, and each group imports only downwards", () => {
    const files = sourceFiles("src/gpu");
    const stray = files.filter((f) =>
      f !== join("src", "gpu", "mod.ts") && gpuLayer(f) === undefined
    );
    assert.deepEqual(stray, [], `files outside the groups ${GPU_LAYERS.join(", ")}`);
    const upward = files.flatMap((file) => {
      const from = gpuLayer(file);
      if (from === undefined) return [];
      return allImports(file).filter((dep) => {
        const to = gpuLayer(dep);
        // Outside src/gpu (src/model, ...) is allowed; src/gpu/mod.ts is above every group.
        return dep.startsWith("src/gpu/") && (to === undefined || to > from);
      }).map((dep) => `${file} -> ${dep}`);
    });
    assert.deepEqual(upward, []);
  });
});
