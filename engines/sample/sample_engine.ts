/**
 * The sample engine ("rotating tokens"): the reference engine of the contract,
 * matching Dynamo's `sample_engine.py`. Token i (0-based) is `(i + 1) % 32000`,
 * one token every `--delay-ms`, `max_tokens` (or `--max-tokens`) tokens, then
 * a `"length"` terminal. Synthetic logprobs make logprob plumbing testable.
 *
 * @module
 */
import type { EngineFactory, EngineSetup, LLMEngine } from "../../src/engine/engine.ts";
import type { EngineConfig } from "../../src/engine/engine_config.ts";
import { type GenerateChunk, makeUsage, type TopLogprob } from "../../src/engine/generate_chunk.ts";
import type { GenerateRequest } from "../../src/engine/generate_request.ts";
import type { RequestContext } from "../../src/engine/request_context.ts";
import { intFlag, parseEngineArgs, workerConfigFromFlags } from "../../src/engine/engine_args.ts";

const VOCAB = 32000;

/** Options of {@linkcode SampleEngine}. */
export interface SampleEngineOptions {
  /** Model name reported by `start` (default `sample-model`). */
  modelName?: string;
  /** Tokens per request when the request sets no `max_tokens` (default 16). */
  maxTokens?: number;
  /** Delay before each token in milliseconds (default 10; 0 = as fast as possible). */
  delayMs?: number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Synthetic logprob of token `t`: `-0.1 * (t % 10)`. */
export function sampleLogprob(t: number): number {
  return -0.1 * (t % 10);
}

/** Synthetic top entries of token `t`: rank r is token `(t + r - 1) % 32000`. */
export function sampleTopLogprobs(t: number, k: number): TopLogprob[] {
  const lp = sampleLogprob(t);
  const out: TopLogprob[] = [];
  for (let r = 1; r <= Math.max(1, k); r++) {
    out.push({ rank: r, token_id: (t + r - 1) % VOCAB, logprob: lp - 0.1 * (r - 1) });
  }
  return out;
}

/**
 * The rotating-token engine.
 *
 * @example
 * ```ts
 * import { SampleEngine } from "./sample_engine.ts";
 * const engine = new SampleEngine({ delayMs: 0 });
 * await engine.start("1");
 * await engine.cleanup();
 * ```
 */
export class SampleEngine implements LLMEngine {
  readonly modelName: string;
  readonly maxTokens: number;
  readonly delayMs: number;
  constructor(options: SampleEngineOptions = {}) {
    this.modelName = options.modelName ?? "sample-model";
    this.maxTokens = options.maxTokens ?? 16;
    this.delayMs = options.delayMs ?? 10;
  }

  /** Flags: `--model-name`, `--max-tokens`, `--delay-ms`, plus the worker flags. */
  static fromArgs(argv: string[]): Promise<EngineSetup<SampleEngine>> {
    try {
      const { values } = parseEngineArgs(argv, {
        "model-name": { type: "string" },
        "max-tokens": { type: "string" },
        "delay-ms": { type: "string" },
      });
      const modelName = (values["model-name"] as string | undefined) ?? "sample-model";
      const engine = new SampleEngine({
        modelName,
        maxTokens: intFlag(values, "max-tokens", 16, 1),
        delayMs: intFlag(values, "delay-ms", 10, 0),
      });
      return Promise.resolve({ engine, worker: workerConfigFromFlags(values, modelName) });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  start(_workerId: string): Promise<EngineConfig> {
    return Promise.resolve({
      model: this.modelName,
      served_model_name: this.modelName,
      context_length: 2048,
      kv_cache_block_size: 16,
      total_kv_blocks: 1000,
      max_num_seqs: 64,
      max_num_batched_tokens: 2048,
    });
  }

  async *generate(
    request: GenerateRequest,
    context: RequestContext,
  ): AsyncGenerator<GenerateChunk> {
    const promptLen = request.token_ids.length;
    // `||`, as Dynamo's sample engine does (`or`): max_tokens 0 means "engine default".
    const maxNew = request.stop_conditions.max_tokens || this.maxTokens;
    const k = request.output_options.logprobs;
    for (let i = 0; i < maxNew; i++) {
      // The sleep returns at once when the request is already stopped (or stops meanwhile),
      // so one check after it covers both.
      await sleep(this.delayMs, context.signal);
      if (context.isStopped()) {
        yield {
          token_ids: [],
          index: 0,
          finish_reason: "cancelled",
          completion_usage: makeUsage(promptLen, i),
        };
        return;
      }
      const token = (i + 1) % VOCAB;
      const chunk: GenerateChunk = { token_ids: [token], index: 0 };
      if (k !== undefined) {
        chunk.log_probs = [sampleLogprob(token)];
        chunk.top_logprobs = [sampleTopLogprobs(token, k)];
      }
      if (i === maxNew - 1) {
        chunk.finish_reason = "length";
        chunk.completion_usage = makeUsage(promptLen, maxNew);
      }
      yield chunk;
    }
  }

  cleanup(): Promise<void> {
    return Promise.resolve();
  }
}

/** The sample engine's factory, for `run()` and `runConformance()`. */
export const sampleEngineFactory: EngineFactory<SampleEngine> = SampleEngine;
