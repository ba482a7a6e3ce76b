/**
 * The Llama-family engine: loads a GGUF file or a safetensors checkpoint directory, uploads
 * it to a backend (`cpu`, `webgpu-eager` or `webgpu`, falling back to `cpu` with a log line
 * when no GPU adapter exists), and serves requests with a paged KV cache, prefix caching,
 * continuous batching and chunked prefill (see `scheduler.ts`), host-side sampling with
 * penalties and logprobs (see `token_sampler.ts`), stop ids and EOS, and cancellation that
 * frees a request's blocks at once.
 *
 * This file holds the engine's surface; its flags are in `llama_engine_args.ts`, its options
 * in `llama_engine_options.ts`, its start in `llama_engine_load.ts`, KV events and load
 * metrics in `engine_publication.ts`, and the generate loop in `generate_stream.ts`.
 *
 * @module
 */
import type {
  EngineFactory,
  EngineSetup,
  EngineStats,
  LLMEngine,
} from "../../src/engine/engine.ts";
import type { EngineConfig } from "../../src/engine/engine_config.ts";
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
import type { GenerateRequest } from "../../src/engine/generate_request.ts";
import type { RequestContext } from "../../src/engine/request_context.ts";
import type { EngineServices } from "../../src/engine/engine_services.ts";
import { SluiceError } from "../../src/errors/sluice_error.ts";
import { releaseLlamaWeights } from "../../src/gpu/llama/llama_decode_step.ts";
import type { LoadedLlamaModel } from "../../src/model/model_loader.ts";
import type { LlamaBackendHandle } from "./llama_backend.ts";
import { sequenceFor } from "./request_sequence.ts";
import { parseLlamaEngineArgs } from "./llama_engine_args.ts";
import { type LlamaEngineParts, startLlamaEngine } from "./llama_engine_load.ts";
import { streamSequence } from "./generate_stream.ts";
import type { LlamaEngineOptions } from "./llama_engine_options.ts";

export { KV_BUDGET_BYTES, LLAMA_BACKENDS } from "./llama_engine_options.ts";
export type { LlamaEngineOptions } from "./llama_engine_options.ts";
export { LOAD_METRICS_INTERVAL_MS } from "./engine_publication.ts";

/**
 * The engine. Construction is cheap; `start` loads and uploads the model.
 *
 * @example
 * ```ts ignore
 * const engine = new LlamaEngine({ model: "model.gguf", backend: "cpu" });
 * const config = await engine.start("1");
 * ```
 */
export class LlamaEngine implements LLMEngine {
  readonly options: LlamaEngineOptions;
  readonly #parts: LlamaEngineParts = {};
  #cleaned = false;

  constructor(options: LlamaEngineOptions) {
    this.options = options;
  }

  /**
   * Flags: `--model PATH` (required), `--backend cpu|webgpu-eager|webgpu`, `--block-size`,
   * `--num-blocks`, `--max-num-seqs`, `--max-num-batched-tokens`, `--max-model-len`,
   * `--max-tokens`, `--multi-step K` (greedy decode steps per submit on WebGPU),
   * `--cpu-kernels wasm|js` and `--cpu-threads N` (the `cpu` backend's matmuls),
   * `--int8-gemv off|auto|force`, plus the worker flags.
   */
  static fromArgs(argv: string[]): Promise<EngineSetup<LlamaEngine>> {
    try {
      const { options, worker } = parseLlamaEngineArgs(argv);
      return Promise.resolve({ engine: new LlamaEngine(options), worker });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Shared hashes of the prefix cache's blocks (those KV events describe); empty before start. */
  cachedHashes(): string[] {
    return this.#parts.blocks?.cachedHashes() ?? [];
  }

  /** KV blocks a new allocation can take (free plus cached-but-unreferenced); 0 before start. */
  freeBlocks(): number {
    return this.#parts.blocks?.freeCount() ?? 0;
  }

  /** KV usage, running and waiting requests, prefix-cache hit rate (empty before start). */
  stats(): EngineStats {
    const { blocks, scheduler } = this.#parts;
    if (!blocks || !scheduler) return {};
    return {
      kv_usage: 1 - blocks.freeCount() / blocks.numBlocks,
      running_requests: scheduler.running,
      waiting_requests: scheduler.waiting,
      kv_cache_hit_rate: scheduler.prefixHitRate,
    };
  }

  /** Scheduler steps run so far (for tests and benchmarks; a K-step window counts K). */
  steps(): number {
    return this.#parts.scheduler?.steps ?? 0;
  }

  /**
   * Limits greedy decode steps per submit to `steps` from the next scheduler step on (at most
   * the start's `multiStep`; 1 = one step and one readback per token). For benchmarks.
   */
  setMultiStep(steps: number): void {
    if (this.#parts.scheduler) this.#parts.scheduler.maxWindow = steps;
  }

  /** Multi-step decode windows run so far (for tests and benchmarks). */
  multiStepWindows(): number {
    return this.#parts.scheduler?.windows ?? 0;
  }

  /** The loaded model (after `start`). */
  get loaded(): LoadedLlamaModel | undefined {
    return this.#parts.loaded;
  }

  /** Compile counters of the kernel warm-up (WebGPU backends, after `start`). */
  get compileCounters(): LlamaBackendHandle["counters"] {
    return this.#parts.handle?.counters;
  }

  /** The backend actually in use (after `start`; `cpu` after a fallback). */
  get backendName(): string | undefined {
    return this.#parts.backend?.name;
  }

  /**
   * Loads and uploads the model. With `services`, the prefix cache's blocks are published as
   * KV events (stored / removed under the shared block hash), a resync snapshot provider is
   * registered, and load metrics go out while requests run and when the engine goes idle.
   */
  start(_workerId: string, services?: EngineServices): Promise<EngineConfig> {
    return startLlamaEngine(this.#parts, this.options, services);
  }

  /**
   * Streams one request. MUST throw an `EngineShutdown` SluiceError before `start` or after
   * `cleanup`.
   */
  async *generate(
    request: GenerateRequest,
    context: RequestContext,
  ): AsyncGenerator<GenerateChunk> {
    const { scheduler, model } = this.#parts;
    if (!scheduler || this.#cleaned) {
      throw new SluiceError("EngineShutdown", "Cannot generate: the llama engine is not running");
    }
    const seq = sequenceFor(request, context.id, {
      vocab: model!.config.vocab,
      maxLen: this.#parts.maxLen ?? 0,
      defaultMaxTokens: this.options.maxTokens ?? 256,
      eos: this.#parts.eos ?? [],
    });
    yield* streamSequence(scheduler, seq, request, context);
  }

  async cleanup(): Promise<void> {
    if (this.#cleaned) return;
    this.#cleaned = true;
    const p = this.#parts;
    try {
      await p.scheduler?.close();
      p.multi?.release();
      p.runner?.release();
      p.pool?.release();
      if (p.model && p.backend) releaseLlamaWeights(p.backend, p.model.weights);
      p.handle?.release();
    } catch (error) {
      (this.options.log ?? console.error)(
        `llama engine cleanup failed: ${(error as Error).message}`,
      );
    }
  }
}

/** The llama engine's factory, for `run()` and `runConformance()`. */
export const llamaEngineFactory: EngineFactory<LlamaEngine> = LlamaEngine;
