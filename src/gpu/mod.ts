/**
 * Sluice's WebGPU kernel layer: device acquisition, generated WGSL kernels, CPU references,
 * backends by name, the kernel compile cache with its autotuner, recorded decode plans, and a
 * Llama-family decode step written against backend ops (captured into a plan on the GPU).
 *
 * @example
 * ```ts ignore
 * import { acquireGpuContext, createBackendRegistry, KernelRuntime, navigatorGpuProvider } from "./mod.ts";
 * const ctx = await acquireGpuContext(navigatorGpuProvider());
 * const backend = await createBackendRegistry().create("webgpu", { runtime: new KernelRuntime(ctx) });
 * ```
 * @module
 */
export * from "./device/gpu_error.ts";
export * from "./device/gpu_provider.ts";
export * from "./device/gpu_context.ts";
export * from "./device/device_fingerprint.ts";
export * from "./device/content_hash.ts";
export * from "./device/buffer_pool.ts";
export * from "./kernels/quant.ts";
export * from "./kernels/host_weight.ts";
export * from "./compile/kernel_runtime.ts";
export * from "./kernels/kernel_source.ts";
export * from "./kernels/memoized_kernels.ts";
export * from "./kernels/gemv.ts";
export * from "./kernels/quantize_rows.ts";
export * from "./kernels/gemv_i8.ts";
export * from "./kernels/gemm.ts";
export * from "./kernels/rmsnorm.ts";
export * from "./kernels/rope.ts";
export * from "./kernels/elementwise.ts";
export * from "./kernels/softmax.ts";
export * from "./kernels/embedding.ts";
export * from "./kernels/kv_append.ts";
export * from "./kernels/attention.ts";
export * from "./kernels/argmax.ts";
export * from "./kernels/sample.ts";
export * from "./kernels/decode_advance.ts";
export * from "./reference/dense.ts";
export * from "./reference/quantize_rows.ts";
export * from "./reference/attention.ts";
export * from "./reference/sampling.ts";
export * from "./ops/backend.ts";
export * from "./ops/paged_kv_cache.ts";
export * from "./ops/sampling_inputs.ts";
export * from "./backends/cpu_backend.ts";
export * from "./backends/webgpu_backend.ts";
export * from "./backends/webgpu_decode_ops.ts";
export * from "./backends/matmul_tuning.ts";
export * from "./backends/backend_registry.ts";
export * from "./compile/kernel_cache_storage.ts";
export * from "./compile/cache_key_factors.ts";
export * from "./compile/kernel_piece.ts";
export * from "./compile/autotuner.ts";
export * from "./compile/dispatch_timer.ts";
export * from "./compile/compile_cache.ts";
export * from "./compile/kernel_set.ts";
export * from "./compile/model_kernel_set.ts";
export * from "./ops/decode_plan.ts";
export * from "./llama/toy_decoder.ts";
export * from "./llama/llama_decode_step.ts";
export * from "./llama/llama_random_weights.ts";
