/**
 * Providing modules by bare specifier to code loaded later: `sluice serve --engine
 * ./my_engine.ts` imports a module that itself imports `"sluice"`, and that import MUST
 * get the library the command runs (one copy: one `SluiceError` class, one set of
 * types), also in a `bun build --compile` binary, which has no package on disk to resolve.
 *
 * On Bun this registers a runtime plugin (`Bun.plugin`, virtual modules). Deno has no
 * runtime resolution hook: there `"sluice"` resolves through the import map (`deno.json`
 * `imports`) of the project the command runs in.
 *
 * @module
 */

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** Loads the namespace object of one provided module. */
export type ModuleLoader = () => Promise<Record<string, unknown>>;

/**
 * Makes `import "<specifier>"` in modules imported after this call resolve to the loaded
 * namespace objects. Returns true when the runtime supports it (Bun), false otherwise
 * (Deno, Node: bare specifiers resolve as usual). Calling it again with the same
 * specifiers is harmless.
 */
export function provideModules(modules: Record<string, ModuleLoader>): boolean {
  if (typeof g.Bun?.plugin !== "function") return false;
  g.Bun.plugin({
    name: "sluice-provided-modules",
    // deno-lint-ignore no-explicit-any
    setup(build: any) {
      for (const [specifier, load] of Object.entries(modules)) {
        build.module(specifier, async () => ({ exports: await load(), loader: "object" }));
      }
    },
  });
  return true;
}
