/**
 * Backends by name, like vLLM's `eager` / `inductor` / custom backends: `cpu`, `webgpu-eager`
 * and `webgpu` are built in; third parties register factories by name on their own registry
 * instance (no global registry). `create` falls back to `cpu` with a log line when a GPU
 * backend is requested but no device is available.
 *
 * @example
 * ```ts
 * import { createBackendRegistry } from "./backend_registry.ts";
 * const registry = createBackendRegistry();
 * const cpu = await registry.create("cpu", {});
 * console.assert(cpu.name === "cpu");
 * ```
 *
 * @module
 */
import type { Backend } from "../ops/backend.ts";
import { type CpuBackendOptions, createCpuBackend } from "./cpu_backend.ts";
import { createWebGpuBackend } from "./webgpu_backend.ts";
import type { KernelRuntime } from "../compile/kernel_runtime.ts";

/** What a backend factory receives. */
export interface BackendContext {
  /** The GPU runtime, absent when no adapter was found. */
  readonly runtime?: KernelRuntime;
  /** Receives the fallback notice. */
  readonly log?: (message: string) => void;
  /** Options of the `cpu` backend (also when it is the fallback). */
  readonly cpu?: CpuBackendOptions;
}

/** Creates a backend. */
export type BackendFactory = (context: BackendContext) => Backend | Promise<Backend>;

/** A name → factory map. */
export interface BackendRegistry {
  /** Registers `factory` under `name`; throws `TypeError` if the name is taken. */
  register(name: string, factory: BackendFactory, options?: { requiresGpu?: boolean }): void;
  /** Registered names. */
  names(): string[];
  /**
   * Creates the named backend. A GPU backend without `context.runtime` falls back to `cpu`
   * and logs why. Unknown names throw `RangeError`.
   */
  create(name: string, context: BackendContext): Promise<Backend>;
}

/** A registry holding the built-in `cpu`, `webgpu-eager` and `webgpu` backends. */
export function createBackendRegistry(): BackendRegistry {
  const factories = new Map<string, { factory: BackendFactory; requiresGpu: boolean }>();
  const registry: BackendRegistry = {
    register(name, factory, options = {}) {
      if (factories.has(name)) {
        throw new TypeError(`Cannot register backend "${name}": the name is taken`);
      }
      factories.set(name, { factory, requiresGpu: options.requiresGpu ?? false });
    },
    names: () => [...factories.keys()],
    async create(name, context) {
      const entry = factories.get(name);
      if (!entry) {
        throw new RangeError(
          `Cannot create backend "${name}": not registered (known: ${
            [...factories.keys()].join(", ")
          })`,
        );
      }
      if (entry.requiresGpu && !context.runtime) {
        context.log?.(
          `Backend "${name}" needs a GPU but no WebGPU adapter was found; falling back to "cpu"`,
        );
        return await factories.get("cpu")!.factory(context);
      }
      return await entry.factory(context);
    },
  };
  registry.register("cpu", (c) => createCpuBackend(c.cpu));
  registry.register("webgpu-eager", (c) => createWebGpuBackend(c.runtime!, { fused: false }), {
    requiresGpu: true,
  });
  registry.register("webgpu", (c) => createWebGpuBackend(c.runtime!, { fused: true }), {
    requiresGpu: true,
  });
  return registry;
}
