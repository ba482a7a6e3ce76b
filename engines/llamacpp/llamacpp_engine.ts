/**
 * `--engine llamacpp`: a GGUF model served by llama.cpp through `node-llama-cpp`, behind the
 * engine contract. This file holds the engine's lifecycle (load, stats, health check, cleanup);
 * the parts live beside it:
 *
 * - `sequence_pool.ts`: one llama.cpp context with `--parallel` sequences. Each request leases a
 *   sequence (the one whose cached tokens share the longest prefix with its prompt: llama.cpp
 *   keeps that KV, and the usage reports it as `cached_tokens`), or waits in a bounded queue,
 *   or is refused with the worker's "busy" error. node-llama-cpp batches the pending decode
 *   steps of all sequences into one llama.cpp batch, so requests join and leave while others
 *   decode (continuous batching).
 * - `sampling_options.ts`: sampling maps one to one (temperature, top-k, top-p, min-p, seed,
 *   repetition / frequency / presence penalties over the last 64 tokens of prompt and output,
 *   as llama.cpp's penalties work).
 * - `generate_loop.ts`: EOS, stop token ids, `min_tokens` (EOS and stop ids banned until
 *   reached), `max_tokens` and the context end are decided token by token; logprobs come from
 *   llama.cpp's distribution for the sampled position (`top_logprobs.ts`). Cancellation: the
 *   stream ends with `"cancelled"` as soon as the signal fires (a decode step in flight
 *   finishes in the background, within one token), and the sequence returns to the pool in
 *   `finally`.
 * - `request_check.ts`: what is refused before a sequence is leased.
 * - `guided_grammar.ts`: guided decoding maps to llama.cpp grammars.
 * - `llamacpp_stats.ts`: KV usage, queue lengths and the prefix-cache hit rate.
 *
 * @module
 */
import { resolve } from "node:path";
import type { EngineSetup, LLMEngine } from "../../src/engine/engine.ts";
import type { EngineConfig } from "../../src/engine/engine_config.ts";
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
import type { GenerateRequest, GenerateRequestInput } from "../../src/engine/generate_request.ts";
import type { RequestContext } from "../../src/engine/request_context.ts";
import { ErrorCode, SluiceError } from "../../src/errors/sluice_error.ts";
import { createLogger, type Logger, parseLogLevel } from "../../src/logging/logger.ts";
import { type GgufFileInfo, openGgufFile } from "../../src/model/gguf/gguf_file.ts";
import { currentRuntime, type Runtime } from "../../src/runtime/runtime.ts";
import { generateOnSequence, type LlamaSequence } from "./generate_loop.ts";
import { type LlamaCppStats, llamaCppStats, PrefixCacheCounter } from "./llamacpp_stats.ts";
import { type LlamaCppOptions, parseLlamaCppArgs } from "./llamacpp_options.ts";
import { loadNodeLlamaCpp, type NodeLlamaCpp } from "./node_llama_cpp.ts";
import { SequencePool } from "./sequence_pool.ts";

/** Dependencies an embedder or test may replace. */
export interface LlamaCppDeps {
  /** File access and environment (default: the current runtime). */
  runtime?: Pick<Runtime, "readFileRange" | "fileSize" | "env">;
  /** Where progress and lifecycle lines go (default: stderr at `DYN_LOG` level). */
  logger?: Logger;
  /** The `node-llama-cpp` module (default: imported on start). */
  loadModule?: () => Promise<NodeLlamaCpp>;
}

/** A llama.cpp engine over one GGUF file. */
export class LlamaCppEngine implements LLMEngine {
  readonly options: LlamaCppOptions;
  #runtime: Pick<Runtime, "readFileRange" | "fileSize" | "env">;
  #logger: Logger;
  #loadModule: () => Promise<NodeLlamaCpp>;
  // deno-lint-ignore no-explicit-any
  #llama: any;
  // deno-lint-ignore no-explicit-any
  #model: any;
  // deno-lint-ignore no-explicit-any
  #context: any;
  #pool: SequencePool<LlamaSequence> | undefined;
  #sequences: LlamaSequence[] = [];
  #contextSize = 0;
  #vocabSize = 0;
  #eog = new Set<number>();
  #counter = new PrefixCacheCounter();
  #cleaned = false;
  #module: NodeLlamaCpp;

  /** Builds the engine (nothing is loaded until `start`). */
  constructor(options: LlamaCppOptions, deps: LlamaCppDeps = {}) {
    this.options = options;
    this.#runtime = deps.runtime ?? currentRuntime();
    this.#logger = deps.logger ??
      createLogger({ level: parseLogLevel(this.#runtime.env("DYN_LOG")) }).child({
        engine: "llamacpp",
      });
    this.#loadModule = deps.loadModule ?? loadNodeLlamaCpp;
  }

  /** Flags: see `LLAMACPP_FLAGS_HELP`; plus the worker flags. */
  static fromArgs(argv: string[]): Promise<EngineSetup<LlamaCppEngine>> {
    try {
      const { options, worker } = parseLlamaCppArgs(argv);
      return Promise.resolve({ engine: new LlamaCppEngine(options), worker });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Loads the GGUF file (with progress), creates the context and its sequences. */
  async start(_workerId: string): Promise<EngineConfig> {
    const o = this.options;
    const path = resolve(o.modelPath);
    const file: GgufFileInfo = await openGgufFile(path, this.#runtime);
    const mod = await this.#loadModule();
    this.#module = mod;
    this.#llama = await mod.getLlama({
      gpu: o.gpu === "off" ? false : "auto",
      build: "never",
      logLevel: "warn",
      progressLogs: false,
    });
    this.#logger.info("loading model", {
      path,
      bytes: file.fileSize,
      backend: this.#llama.gpu || "cpu",
    });
    let shown = -1;
    try {
      this.#model = await this.#llama.loadModel({
        modelPath: path,
        gpuLayers: o.gpu === "off" ? 0 : o.gpuLayers,
        onLoadProgress: (progress: number) => {
          const percent = Math.floor(progress * 10) * 10;
          if (percent > shown) {
            shown = percent;
            this.#logger.info(`loading model: ${percent}%`);
          }
        },
      });
    } catch (cause) {
      throw new SluiceError(
        "EngineShutdown",
        `Cannot load the model file ${path} in llama.cpp: ${(cause as Error).message}`,
        { cause, code: ErrorCode.ModelFileInvalid },
      );
    }
    const train = Number(this.#model.trainContextSize) || 4096;
    this.#contextSize = o.contextSize > 0 ? o.contextSize : Math.min(train, 4096);
    const kvType = o.kvCacheType === "f16" ? undefined : o.kvCacheType.toUpperCase();
    try {
      this.#context = await this.#model.createContext({
        contextSize: this.#contextSize,
        sequences: o.parallel,
        threads: o.threads > 0 ? o.threads : undefined,
        batchSize: o.batchSize > 0 ? o.batchSize : undefined,
        experimentalKvCacheKeyType: kvType,
        experimentalKvCacheValueType: kvType,
      });
    } catch (cause) {
      throw new SluiceError(
        "EngineShutdown",
        `Cannot create the llama.cpp context (--ctx-size ${this.#contextSize}, --parallel ` +
          `${o.parallel}, --kv-cache-type ${o.kvCacheType}): ${(cause as Error).message}; ` +
          "a smaller context or fewer sequences need less memory, and a quantized KV cache " +
          "needs a head size divisible by 32",
        { cause, code: ErrorCode.ContextCreationFailed },
      );
    }
    this.#sequences = Array.from({ length: o.parallel }, () => this.#context.getSequence());
    this.#pool = new SequencePool(this.#sequences, o.maxQueue);
    const vocab = file.header.metadata.get("tokenizer.ggml.tokens");
    this.#vocabSize = Array.isArray(vocab) ? vocab.length : 0;
    for (const id of [this.#model.tokens.eos, this.#model.tokens.eot]) {
      if (typeof id === "number") this.#eog.add(id);
    }
    this.#logger.info("model ready", {
      model: o.modelName,
      context: this.#contextSize,
      parallel: o.parallel,
      threads: this.#context.currentThreads,
    });
    return {
      model: o.modelName,
      context_length: this.#contextSize,
      max_num_seqs: o.parallel,
      max_num_batched_tokens: this.#context.batchSize,
      model_files: { gguf: file.cardFile },
      runtime_data: { backend: this.#llama.gpu || "cpu", kv_cache_type: o.kvCacheType },
    };
  }

  /** KV usage, running and waiting requests, prefix-cache hit rate. */
  stats(): LlamaCppStats {
    return llamaCppStats(this.#sequences, this.#contextSize, this.#pool, this.#counter);
  }

  /** A one-token greedy canary starting from BOS (or token 0). */
  healthCheckPayload(): GenerateRequestInput {
    const bos = this.#model?.tokens?.bos;
    return {
      token_ids: [typeof bos === "number" ? bos : 0],
      model: this.options.modelName,
      stop_conditions: { max_tokens: 1, ignore_eos: true },
      sampling_options: { temperature: 0 },
    };
  }

  /** Generates on a leased sequence (`generate_loop.ts`); throws once the engine is not running. */
  async *generate(
    request: GenerateRequest,
    context: RequestContext,
  ): AsyncGenerator<GenerateChunk> {
    const pool = this.#pool;
    if (pool === undefined || this.#cleaned) {
      throw new SluiceError(
        "EngineShutdown",
        "Cannot generate: the llamacpp engine is not running",
      );
    }
    yield* generateOnSequence(
      {
        module: this.#module,
        llama: this.#llama,
        model: this.#model,
        eog: this.#eog,
        pool,
        contextSize: this.#contextSize,
        vocabSize: this.#vocabSize,
        maxTokens: this.options.maxTokens,
        counter: this.#counter,
        logger: this.#logger,
      },
      request,
      context,
    );
  }

  /** Nothing to hand over: in-flight requests have finished when drain runs. */
  drain(): Promise<void> {
    return Promise.resolve();
  }

  /** Frees the sequences, context, model and llama.cpp; idempotent, tolerates a partial start. */
  async cleanup(): Promise<void> {
    if (this.#cleaned) return;
    this.#cleaned = true;
    for (
      const dispose of [
        () => this.#context?.dispose(),
        () => this.#model?.dispose(),
        () => this.#llama?.dispose(),
      ]
    ) {
      try {
        await dispose();
      } catch (error) {
        this.#logger.warn("llama.cpp cleanup step failed", { error: String(error) });
      }
    }
    this.#sequences = [];
    this.#pool = undefined;
  }
}
