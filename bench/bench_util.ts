/**
 * Small helpers shared by the benchmarks (runtime label, JSON output).
 */
import { writeFile } from "node:fs/promises";
import process from "node:process";

/** "Deno 2.9.6" / "Bun 1.4.5" / "Node v20...". */
export function runtimeLabel(): string {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (g.Deno) return `Deno ${g.Deno.version.deno}`;
  if (g.Bun) return `Bun ${g.Bun.version}`;
  return `Node ${process.version}`;
}

/** Writes `value` as pretty JSON. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(value, null, 2) + "\n");
}

/** Forces a full GC when the runtime exposes one (Bun, or V8 with --expose-gc). */
export function collectGarbage(): void {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (g.Bun?.gc) g.Bun.gc(true);
  else if (typeof g.gc === "function") g.gc();
}
