/**
 * Where a `GPU` object comes from. Kernels and backends never touch `navigator.gpu` directly:
 * they receive a {@link GpuProvider}, so Deno (built-in WebGPU), Bun and Node (the `webgpu` npm
 * package, Dawn) and tests all share one code path.
 *
 * @example
 * ```ts
 * import { navigatorGpuProvider } from "./gpu_provider.ts";
 * const provider = navigatorGpuProvider();
 * console.log(provider?.name ?? "this runtime has no navigator.gpu");
 * ```
 *
 * @module
 */

/** A source of a WebGPU `GPU` object plus how to ask it for an adapter. */
export interface GpuProvider {
  /** Short name for logs and the device fingerprint, e.g. `navigator.gpu` or `dawn-opengles`. */
  readonly name: string;
  /** The WebGPU entry point. */
  readonly gpu: GPU;
  /**
   * Adapter requests to try in order; the first that yields an adapter wins. Dawn on Mesa's GL ES
   * needs `{featureLevel: "compatibility"}`.
   */
  readonly adapterRequests: readonly GPURequestAdapterOptions[];
}

/**
 * The runtime's own `navigator.gpu` (Deno ships WebGPU; browsers too), or `undefined` where the
 * runtime has none (Bun, Node).
 */
export function navigatorGpuProvider(): GpuProvider | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (!nav?.gpu) return undefined;
  return {
    name: "navigator.gpu",
    gpu: nav.gpu,
    adapterRequests: [{ powerPreference: "high-performance" }, {}],
  };
}

/** The shape of the `webgpu` npm package (Dawn bindings) that {@link dawnGpuProvider} needs. */
export interface DawnModule {
  /** Creates a `GPU` object from Dawn toggles such as `backend=opengles`. */
  create(options: string[]): GPU;
  /** WebGPU constructors and enums (`GPUBufferUsage`, ...) to install globally. */
  globals: Record<string, unknown>;
}

/** Options for {@link dawnGpuProvider}. */
export interface DawnProviderOptions {
  /**
   * Dawn backend toggle. On these CPU-only Linux machines Dawn rejects Mesa's software Vulkan
   * driver but runs on Mesa's GL ES, which needs `EGL_PLATFORM=surfaceless` in the process
   * environment before the first adapter request (the caller sets it; see ACCELERATOR.md).
   * Default `opengles`.
   */
  readonly backend?: "opengles" | "vulkan" | "default";
}

/**
 * Wraps the `webgpu` npm package. Installs its WebGPU globals (`GPUBufferUsage`, `GPUMapMode`,
 * ...) when the runtime lacks them, because kernels reference those enums by name.
 *
 * The provider's `gpu` MUST stay reachable while any adapter or device from it is in use: it
 * owns Dawn's native instance, which its adapters, devices and event pump reference without
 * owning, so collecting it frees the instance under them. A context from `acquireGpuContext`
 * holds it for as long as the context is reachable.
 *
 * @example
 * ```ts ignore
 * import * as dawn from "webgpu";
 * import { dawnGpuProvider } from "./gpu_provider.ts";
 * const provider = dawnGpuProvider(dawn);
 * ```
 */
export function dawnGpuProvider(dawn: DawnModule, options: DawnProviderOptions = {}): GpuProvider {
  for (const [key, value] of Object.entries(dawn.globals)) {
    if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
  }
  const backend = options.backend ?? "opengles";
  const gpu = dawn.create(backend === "default" ? [] : [`backend=${backend}`]);
  return {
    name: `dawn-${backend}`,
    gpu,
    adapterRequests: [{ featureLevel: "compatibility" } as GPURequestAdapterOptions, {}],
  };
}
