/**
 * `sluice/gpu`: the WebGPU accelerator layer. Device acquisition, WGSL kernels generated
 * from TypeScript templates with CPU references, backends by name (`cpu`, `webgpu-eager`,
 * `webgpu`), the kernel compile cache and autotuner, recorded decode plans, and a
 * Llama-family decode step written against backend ops.
 *
 * @example
 * ```ts ignore
 * import { acquireGpuContext, createBackendRegistry, KernelRuntime, navigatorGpuProvider } from "sluice/gpu";
 * const ctx = await acquireGpuContext(navigatorGpuProvider());
 * const backend = await createBackendRegistry().create("webgpu", { runtime: new KernelRuntime(ctx) });
 * ```
 *
 * @module
 */
export * from "../gpu/mod.ts";
export type { TensorAllocator } from "../gpu/ops/tensor.ts";
