/**
 * The mocker's flags, named as Dynamo's mocker names them so scripts carry over, with
 * the defaults of CONTRACT.md §8.
 *
 * @module
 */
import { SluiceError } from "../../src/errors/sluice_error.ts";
import { intFlag, parseEngineArgs, workerConfigFromFlags } from "../../src/engine/engine_args.ts";
import type { WorkerConfigInput } from "../../src/engine/worker_config.ts";

/** The mocker's settings. */
export interface MockerOptions {
  /** Model name reported by `start` (default `mocker-model`). */
  modelName: string;
  /** `config.json` directory (or file) read for the context length, if given. */
  modelPath?: string;
  /** Divides every simulated iteration time; 0 = no simulated delay (default 1.0). */
  speedupRatio: number;
  blockSize: number;
  numGpuBlocks: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  enablePrefixCaching: boolean;
  enableChunkedPrefill: boolean;
  /** Fraction of blocks kept free when admitting (default 0.01, vLLM's). */
  watermark: number;
  /** Simulated start-up time in seconds (default 0). */
  startupTime: number;
  /** Seed of the generated token ids (default 0). */
  seed: number;
  /** `max_tokens` of requests that set none (default 16). */
  maxTokens: number;
}

/** The defaults (CONTRACT.md §8). */
export const MOCKER_DEFAULTS: MockerOptions = {
  modelName: "mocker-model",
  speedupRatio: 1.0,
  blockSize: 64,
  numGpuBlocks: 16384,
  maxNumSeqs: 256,
  maxNumBatchedTokens: 8192,
  enablePrefixCaching: true,
  enableChunkedPrefill: true,
  watermark: 0.01,
  startupTime: 0,
  seed: 0,
  maxTokens: 16,
};

const FLAGS = {
  "model-name": { type: "string" },
  "model-path": { type: "string" },
  "speedup-ratio": { type: "string" },
  "block-size": { type: "string" },
  "num-gpu-blocks-override": { type: "string" },
  "max-num-seqs": { type: "string" },
  "max-num-batched-tokens": { type: "string" },
  "enable-prefix-caching": { type: "boolean" },
  "no-enable-prefix-caching": { type: "boolean" },
  "enable-chunked-prefill": { type: "boolean" },
  "no-enable-chunked-prefill": { type: "boolean" },
  watermark: { type: "string" },
  "startup-time": { type: "string" },
  seed: { type: "string" },
  "max-tokens": { type: "string" },
} as const;

function floatFlag(
  values: Record<string, unknown>,
  flag: string,
  fallback: number,
  max = Infinity,
) {
  const raw = values[flag];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (
    typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(value) || value < 0 ||
    value > max
  ) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse --${flag}: expected a number in [0, ${max}], got "${String(raw)}"`,
      { param: `--${flag}` },
    );
  }
  return value;
}

function toggle(values: Record<string, unknown>, name: string, fallback: boolean): boolean {
  if (values[name] === true && values[`no-${name}`] === true) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse --${name}: both --${name} and --no-${name} were given`,
      { param: `--${name}` },
    );
  }
  if (values[name] === true) return true;
  if (values[`no-${name}`] === true) return false;
  return fallback;
}

/**
 * Parses the mocker's flags (and the worker flags).
 * @throws {SluiceError} `InvalidArgument` naming the bad flag.
 */
export function parseMockerArgs(
  argv: string[],
): { options: MockerOptions; worker: WorkerConfigInput } {
  const { values } = parseEngineArgs(argv, FLAGS);
  const d = MOCKER_DEFAULTS;
  const options: MockerOptions = {
    modelName: values["model-name"] ?? d.modelName,
    speedupRatio: floatFlag(values, "speedup-ratio", d.speedupRatio),
    blockSize: intFlag(values, "block-size", d.blockSize, 1),
    numGpuBlocks: intFlag(values, "num-gpu-blocks-override", d.numGpuBlocks, 1),
    maxNumSeqs: intFlag(values, "max-num-seqs", d.maxNumSeqs, 1),
    maxNumBatchedTokens: intFlag(values, "max-num-batched-tokens", d.maxNumBatchedTokens, 1),
    enablePrefixCaching: toggle(values, "enable-prefix-caching", d.enablePrefixCaching),
    enableChunkedPrefill: toggle(values, "enable-chunked-prefill", d.enableChunkedPrefill),
    watermark: floatFlag(values, "watermark", d.watermark, 1),
    startupTime: floatFlag(values, "startup-time", d.startupTime),
    seed: intFlag(values, "seed", d.seed, 0),
    maxTokens: intFlag(values, "max-tokens", d.maxTokens, 1),
  };
  if (values["model-path"] !== undefined) options.modelPath = values["model-path"];
  return { options, worker: workerConfigFromFlags(values, options.modelName) };
}
