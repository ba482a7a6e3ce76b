/**
 * The llamacpp engine's command-line flags and the options they map to.
 *
 * @module
 */
import { intFlag, parseEngineArgs, workerConfigFromFlags } from "../../src/engine/engine_args.ts";
import type { WorkerConfigInput } from "../../src/engine/worker_config.ts";
import { SluiceError } from "../../src/errors/sluice_error.ts";

/** KV cache element types llama.cpp supports for both K and V. */
export const KV_CACHE_TYPES = [
  "f16",
  "f32",
  "bf16",
  "q8_0",
  "q4_0",
  "q4_1",
  "q5_0",
  "q5_1",
] as const;

/** What the llamacpp engine is built with. */
export interface LlamaCppOptions {
  /** Path of the GGUF file. */
  modelPath: string;
  /** Model name reported by `start` (default: the file name without `.gguf`). */
  modelName: string;
  /** Tokens of context per sequence; 0 means the model's training context, capped at 4096. */
  contextSize: number;
  /** Parallel sequences of the one context (concurrent requests decoded together). */
  parallel: number;
  /** Requests that may wait for a free sequence before new ones are refused. */
  maxQueue: number;
  /** CPU threads; 0 lets llama.cpp choose. */
  threads: number;
  /** `auto` (llama.cpp's best backend: CUDA, Vulkan, Metal) or `off` (CPU). */
  gpu: "auto" | "off";
  /** Layers offloaded to the GPU: a number, `auto` or `max`. */
  gpuLayers: number | "auto" | "max";
  /** KV cache type (K and V), `f16` by default. */
  kvCacheType: (typeof KV_CACHE_TYPES)[number];
  /** Tokens per decode batch (llama.cpp `n_batch`); 0 = node-llama-cpp's default. */
  batchSize: number;
  /** Tokens generated when a request sets no `max_tokens`; 0 = until the context is full. */
  maxTokens: number;
}

/** The engine's flags (besides the worker flags). */
export const LLAMACPP_FLAGS = {
  model: { type: "string" },
  "model-name": { type: "string" },
  "ctx-size": { type: "string" },
  parallel: { type: "string" },
  "max-queue": { type: "string" },
  threads: { type: "string" },
  gpu: { type: "string" },
  "gpu-layers": { type: "string" },
  "kv-cache-type": { type: "string" },
  "batch-size": { type: "string" },
  "max-tokens": { type: "string" },
} as const;

/** The flag help `sluice serve --help` prints. */
export const LLAMACPP_FLAGS_HELP =
  `llamacpp engine flags (needs: npm install --no-save node-llama-cpp@3.22.1):
  --model PATH          GGUF file to serve (required)
  --model-name NAME     model name (default: the file name without .gguf)
  --ctx-size N          context tokens per sequence (default: the model's, at most 4096)
  --parallel N          parallel sequences decoded together (default 4)
  --max-queue N         requests waiting for a sequence before "busy" (default 64)
  --threads N           CPU threads (default: llama.cpp's choice)
  --gpu auto|off        GPU backend (CUDA, Vulkan, Metal) or CPU only (default auto)
  --gpu-layers N|auto|max  layers offloaded to the GPU (default auto)
  --kv-cache-type T     KV cache type: ${KV_CACHE_TYPES.join(", ")} (default f16)
  --batch-size N        tokens per decode batch (default: node-llama-cpp's)
  --max-tokens N        tokens per request without max_tokens (default: until the context is full)`;

function invalid(flag: string, message: string): SluiceError {
  return new SluiceError("InvalidArgument", `Cannot parse --${flag}: ${message}`, {
    param: `--${flag}`,
  });
}

/** Parses the engine's flags; throws `InvalidArgument` naming the flag. */
export function parseLlamaCppArgs(
  argv: string[],
): { options: LlamaCppOptions; worker: WorkerConfigInput } {
  const { values } = parseEngineArgs(argv, LLAMACPP_FLAGS);
  const modelPath = values.model;
  if (modelPath === undefined || modelPath === "") {
    throw invalid("model", "the llamacpp engine needs a GGUF file (--model PATH)");
  }
  const gpu = values.gpu ?? "auto";
  if (gpu !== "auto" && gpu !== "off") throw invalid("gpu", `expected auto or off, got "${gpu}"`);
  const layersRaw = values["gpu-layers"] ?? "auto";
  let gpuLayers: LlamaCppOptions["gpuLayers"];
  if (layersRaw === "auto" || layersRaw === "max") gpuLayers = layersRaw;
  else gpuLayers = intFlag(values, "gpu-layers", 0, 0);
  const kv = values["kv-cache-type"] ?? "f16";
  if (!(KV_CACHE_TYPES as readonly string[]).includes(kv)) {
    throw invalid("kv-cache-type", `expected one of ${KV_CACHE_TYPES.join(", ")}, got "${kv}"`);
  }
  const base = modelPath.split(/[\\/]/).at(-1)!.replace(/\.gguf$/i, "");
  const modelName = values["model-name"] ?? base;
  return {
    options: {
      modelPath,
      modelName,
      contextSize: intFlag(values, "ctx-size", 0, 0),
      parallel: intFlag(values, "parallel", 4, 1),
      maxQueue: intFlag(values, "max-queue", 64, 0),
      threads: intFlag(values, "threads", 0, 0),
      gpu,
      gpuLayers,
      kvCacheType: kv as LlamaCppOptions["kvCacheType"],
      batchSize: intFlag(values, "batch-size", 0, 0),
      maxTokens: intFlag(values, "max-tokens", 0, 0),
    },
    worker: workerConfigFromFlags(values, modelPath),
  };
}
