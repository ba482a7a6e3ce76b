/**
 * The llama engine's command-line flags: `--model PATH` (required), `--backend
 * cpu|webgpu-eager|webgpu`, `--block-size`, `--num-blocks`, `--max-num-seqs`,
 * `--max-num-batched-tokens`, `--max-model-len`, `--max-tokens`, `--multi-step K` (greedy
 * decode steps per submit on WebGPU), `--cpu-kernels wasm|js` (the `cpu` backend's matmul
 * kernels), `--cpu-threads N` (threads of its large matmuls), `--int8-gemv off|auto|force`
 * (the WebGPU int8-activation GEMV), plus the worker flags.
 *
 * @module
 */
import { intFlag, parseEngineArgs, workerConfigFromFlags } from "../../src/engine/engine_args.ts";
import type { WorkerConfigInput } from "../../src/engine/worker_config.ts";
import { SluiceError } from "../../src/errors/sluice_error.ts";
import {
  LLAMA_BACKENDS,
  type LlamaEngineOptions,
  servedModelName,
} from "./llama_engine_options.ts";

/** Engine options and worker config parsed from the flags. */
export interface LlamaEngineArgs {
  readonly options: LlamaEngineOptions;
  readonly worker: WorkerConfigInput;
}

/**
 * Parses `argv`. A missing `--model`, an unknown `--backend` or a bad integer flag MUST throw
 * an `InvalidArgument` SluiceError naming the flag.
 */
export function parseLlamaEngineArgs(argv: string[]): LlamaEngineArgs {
  const { values } = parseEngineArgs(argv, {
    model: { type: "string" },
    backend: { type: "string" },
    "block-size": { type: "string" },
    "num-blocks": { type: "string" },
    "max-num-seqs": { type: "string" },
    "max-num-batched-tokens": { type: "string" },
    "max-model-len": { type: "string" },
    "max-tokens": { type: "string" },
    "multi-step": { type: "string" },
    "cpu-kernels": { type: "string" },
    "cpu-threads": { type: "string" },
    "int8-gemv": { type: "string" },
  });
  const model = values.model;
  if (!model) {
    throw new SluiceError(
      "InvalidArgument",
      "Cannot start the llama engine: --model is required",
      {
        param: "--model",
      },
    );
  }
  const backend = values.backend ?? "cpu";
  if (!(LLAMA_BACKENDS as readonly string[]).includes(backend)) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse --backend: "${backend}" is not one of ${LLAMA_BACKENDS.join(", ")}`,
      { param: "--backend" },
    );
  }
  const cpuKernels = values["cpu-kernels"] ?? "wasm";
  if (cpuKernels !== "wasm" && cpuKernels !== "js") {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse --cpu-kernels: "${cpuKernels}" is not one of wasm, js`,
      { param: "--cpu-kernels" },
    );
  }
  const int8Gemv = values["int8-gemv"] ?? "auto";
  if (int8Gemv !== "off" && int8Gemv !== "auto" && int8Gemv !== "force") {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse --int8-gemv: "${int8Gemv}" is not one of off, auto, force`,
      { param: "--int8-gemv" },
    );
  }
  const optional = (flag: string) =>
    values[flag as keyof typeof values] === undefined ? undefined : intFlag(values, flag, 0, 1);
  const options: LlamaEngineOptions = {
    model,
    backend: backend as LlamaEngineOptions["backend"],
    blockSize: optional("block-size"),
    numBlocks: optional("num-blocks"),
    maxNumSeqs: optional("max-num-seqs"),
    maxNumBatchedTokens: optional("max-num-batched-tokens"),
    maxModelLen: optional("max-model-len"),
    maxTokens: optional("max-tokens"),
    multiStep: optional("multi-step"),
    cpuKernels,
    cpuThreads: optional("cpu-threads"),
    int8Gemv,
  };
  return { options, worker: workerConfigFromFlags(values, servedModelName(model)) };
}
