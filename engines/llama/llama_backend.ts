/**
 * Creates the backend the llama engine runs on. `cpu` needs nothing; `webgpu-eager` and
 * `webgpu` acquire a device, warm the model's kernel set through the persistent compile cache
 * (vLLM's compile step: generated and tuned on a miss, read back on a later start, with a
 * progress line per tenth), and build the backend on the warmed runtime, the fused one with
 * the tuned matmul of each warmed bucket. Without a device the engine falls back to `cpu` and
 * says so.
 *
 * @module
 */
import type { Backend } from "../../src/gpu/ops/backend.ts";
import { createBackendRegistry } from "../../src/gpu/backends/backend_registry.ts";
import { type CpuBackendOptions, defaultCpuThreads } from "../../src/gpu/backends/cpu_backend.ts";
import { wasmSimdAvailable } from "../../src/gpu/backends/cpu_wasm/wasm_weight.ts";
import { createWebGpuBackend } from "../../src/gpu/backends/webgpu_backend.ts";
import { cacheKeyFactors } from "../../src/gpu/compile/cache_key_factors.ts";
import { type CompileCounters, KernelCompileCache } from "../../src/gpu/compile/compile_cache.ts";
import type { GpuContext } from "../../src/gpu/device/gpu_context.ts";
import { KernelRuntime } from "../../src/gpu/compile/kernel_runtime.ts";
import type { KernelCacheStorage } from "../../src/gpu/compile/kernel_cache_storage.ts";
import { type LlamaKernelConfig, llamaKernelSet } from "../../src/gpu/compile/model_kernel_set.ts";
import { type Int8GemvMode, resolveInt8GemvMode } from "../../src/gpu/compile/gemv_i8_tuning.ts";

/** How to get a device and where its compiled kernels live. */
export interface LlamaGpuOptions {
  /** Acquires a device (`undefined`: none); called only for the WebGPU backends. */
  readonly acquire: () => Promise<GpuContext | undefined>;
  /** Destroy the device on release (true when `acquire` made it for this engine). */
  readonly ownsDevice: boolean;
  /**
   * Compile-cache storage and root; `disabled` skips the persistent cache; `tune: false` takes
   * each piece's first candidate instead of timing them (default true).
   */
  readonly cache: { storage: KernelCacheStorage; root: string; disabled: boolean; tune?: boolean };
  /** Token-count buckets to warm (matmuls of other sizes use default kernels). */
  readonly buckets: readonly number[];
  /**
   * The int8-activation GEMV for Q8_0 / Q4_0 decode matmuls (`gemv_i8_tuning.ts`): `auto`
   * (default) lets the autotuner choose it where the device's WGSL has the feature, `force`
   * uses it alone (throws without the feature), `off` never.
   */
  readonly int8Gemv?: Int8GemvMode;
}

/** A created backend and what its start did. */
export interface LlamaBackendHandle {
  readonly backend: Backend;
  /** Compile counters of the warm-up (WebGPU backends only). */
  readonly counters?: CompileCounters;
  /** Destroys the backend (and the device when owned). */
  release(): void;
}

/** `1 thread` or `up to N threads`. */
function threadCount(n: number): string {
  return n === 1 ? "1 thread" : `up to ${n} threads`;
}

/**
 * Creates `name` for `config`; falls back to `cpu` (logged) when no device exists. `cpu` options
 * apply to the `cpu` backend, chosen or fallen back to.
 */
export async function createLlamaBackend(
  name: "cpu" | "webgpu-eager" | "webgpu",
  config: LlamaKernelConfig,
  gpu: LlamaGpuOptions,
  log: (line: string) => void,
  cpu: CpuBackendOptions = {},
): Promise<LlamaBackendHandle> {
  const context = name === "cpu" ? undefined : await gpu.acquire();
  if (name === "cpu" || !context) {
    // Without a runtime the registry falls back to `cpu` and logs why.
    const backend = await createBackendRegistry().create(name, { log, cpu: { log, ...cpu } });
    const simd = (cpu.kernels ?? "wasm") === "wasm" && wasmSimdAvailable();
    log(
      simd
        ? `cpu backend: WebAssembly SIMD matmuls on ${
          threadCount(cpu.threads ?? defaultCpuThreads())
        }`
        : "cpu backend: TypedArray reference matmuls",
    );
    return { backend, release: () => backend.destroy() };
  }
  try {
    const runtime = new KernelRuntime(context);
    const cache = await KernelCompileCache.open(runtime, {
      storage: gpu.cache.storage,
      root: gpu.cache.root,
      factors: cacheKeyFactors(context, config, config.dtype),
      disabled: gpu.cache.disabled,
      tune: gpu.cache.tune ?? true,
    });
    const items = llamaKernelSet(config, {
      buckets: gpu.buckets,
      backend: name,
      int8: resolveInt8GemvMode(gpu.int8Gemv ?? "auto", context.wgslFeatures),
    });
    log(
      `Warming ${items.length} ${name} kernels on ${
        context.adapter.description || context.providerName
      }` +
        (cache.directory ? ` (compile cache ${cache.directory})` : " (compile cache disabled)"),
    );
    let lastTenth = -1;
    const kernels = await cache.warmUp(items, {
      onProgress({ done, total }) {
        const tenth = Math.floor((done / total) * 10);
        if (tenth !== lastTenth) {
          lastTenth = tenth;
          log(`Kernels: ${done}/${total}`);
        }
      },
    });
    await cache.save();
    const c = cache.counters;
    log(
      `Kernels ready: ${c.cacheHits} from the compile cache, ${c.compiles} compiled, ` +
        `${c.tunings} tuned, ${c.compileSeconds.toFixed(2)} s`,
    );
    // Dispatch looks the warmed kernels up by (operation, bucket); no WGSL is regenerated.
    const backend = createWebGpuBackend(runtime, { fused: name === "webgpu", kernels });
    return {
      backend,
      counters: { ...c },
      release() {
        backend.destroy();
        if (gpu.ownsDevice) context.destroy();
      },
    };
  } catch (error) {
    if (gpu.ownsDevice) context.destroy();
    throw error;
  }
}
