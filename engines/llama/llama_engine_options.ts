/**
 * The llama engine's options (what `new LlamaEngine(options)` and `--flags` configure), the
 * backends it runs on, and the served model name derived from the model path.
 *
 * @module
 */
import type { GpuContext } from "../../src/gpu/device/gpu_context.ts";
import type { KernelCacheStorage } from "../../src/gpu/compile/kernel_cache_storage.ts";
import type { ModelFileAccess } from "../../src/model/model_loader.ts";

/** The KV cache memory the default block count stays within (f32 K and V of every layer). */
export const KV_BUDGET_BYTES = 512 * 2 ** 20;

/** The backends the engine runs on. */
export const LLAMA_BACKENDS = ["cpu", "webgpu-eager", "webgpu"] as const;

/** Options of `LlamaEngine`. */
export interface LlamaEngineOptions {
  /** A `.gguf` file or a directory with `config.json` and safetensors. */
  readonly model: string;
  /** Backend name (default `cpu`). */
  readonly backend?: (typeof LLAMA_BACKENDS)[number];
  /** Tokens per KV block (default 16). */
  readonly blockSize?: number;
  /**
   * KV blocks (default: enough for `maxNumSeqs` full-length sequences within
   * {@link KV_BUDGET_BYTES}, and at least one full sequence).
   */
  readonly numBlocks?: number;
  /** Most sequences per step (default 16). */
  readonly maxNumSeqs?: number;
  /** Most tokens per step: the prefill chunk budget (default 256). */
  readonly maxNumBatchedTokens?: number;
  /** Longest sequence served (default: the model's context, at most 2048). */
  readonly maxModelLen?: number;
  /** Tokens per request when the request sets no `max_tokens` (default 256). */
  readonly maxTokens?: number;
  /** File access (default: the runtime adapter). */
  readonly files?: ModelFileAccess;
  /** Progress and notices (default: stderr). */
  readonly log?: (line: string) => void;
  /**
   * Provides a device for the WebGPU backends (`undefined`: none, fall back to `cpu`). An
   * injected device stays the caller's; by default the runtime's WebGPU is acquired and
   * destroyed at cleanup.
   */
  readonly gpu?: () => Promise<GpuContext | undefined>;
  /**
   * The kernel compile cache (default: files under `$SLUICE_KERNEL_CACHE_DIR`, else
   * `<tmp>/sluice-kernels`; `SLUICE_DISABLE_KERNEL_CACHE=1` disables it).
   */
  readonly kernelCache?: {
    storage: KernelCacheStorage;
    root: string;
    disabled: boolean;
    tune?: boolean;
  };
  /** Token-count buckets whose kernels are warmed at start (default 1 and 8). */
  readonly warmBuckets?: readonly number[];
  /**
   * Most greedy decode steps per submit on the WebGPU backends (default
   * `DEFAULT_MULTI_STEPS` of `src/gpu/llama/llama_multi_step.ts`; 1 = one step and one readback per token). Ignored on `cpu`.
   */
  readonly multiStep?: number;
  /**
   * The `cpu` backend's matmul kernels: `wasm` (default: WebAssembly SIMD over weights kept
   * quantised) or `js` (the TypedArray reference, weights dequantised to f32). Ignored on the
   * WebGPU backends.
   */
  readonly cpuKernels?: "wasm" | "js";
  /**
   * Threads the `cpu` backend splits a large matmul over (default: the runtime's
   * `navigator.hardwareConcurrency`, at most 8; 1 = no worker threads).
   */
  readonly cpuThreads?: number;
  /**
   * The int8-activation GEMV of Q8_0 / Q4_0 decode matmuls on the WebGPU backends: `auto`
   * (default: an autotuner candidate where the device's WGSL has `packed_4x8_integer_dot_product`),
   * `force` (always; the start fails without the feature), `off`.
   */
  readonly int8Gemv?: "off" | "auto" | "force";
}

/**
 * The served model name of a model path: its last path segment without a `.gguf` suffix
 * (trailing slashes ignored). MUST be the same for `fromArgs` and `start`.
 */
export function servedModelName(model: string): string {
  return model.replace(/\/+$/, "").split("/").pop()!.replace(/\.gguf$/i, "");
}
