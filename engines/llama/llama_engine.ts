/**
 * The Llama-family engine: loads a GGUF file or a safetensors checkpoint directory, uploads
 * it to a backend (`cpu`, `webgpu-eager` or `webgpu`, falling back to `cpu` with a log line
 * when no GPU adapter exists), and serves requests with a paged KV cache, prefix caching,
 * continuous batching and chunked prefill (see `scheduler.ts`), host-side sampling with
 * penalties and logprobs (see `token_sampler.ts`), stop ids and EOS, and cancellation that
 * frees a request's blocks at once.
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
import { type GenerateChunk, makeUsage } from "../../src/engine/generate_chunk.ts";
import type { GenerateRequest } from "../../src/engine/generate_request.ts";
import type { RequestContext } from "../../src/engine/request_context.ts";
import { intFlag, parseEngineArgs, workerConfigFromFlags } from "../../src/engine/engine_args.ts";
import { SluiceError } from "../../src/errors/sluice_error.ts";
import type { Backend } from "../../src/gpu/ops/backend.ts";
import {
  createKvCachePool,
  createLlamaBatchRunner,
  type KvCachePool,
  type LlamaBatchRunner,
} from "../../src/gpu/llama/llama_batch_runner.ts";
import { type LlamaModel, releaseLlamaWeights } from "../../src/gpu/llama/llama_decode_step.ts";
import {
  createLlamaMultiStepDecoder,
  DEFAULT_MULTI_STEPS,
  type LlamaMultiStepDecoder,
} from "../../src/gpu/llama/llama_multi_step.ts";
import { canCapture } from "../../src/gpu/ops/backend.ts";
import type { GpuContext } from "../../src/gpu/device/gpu_context.ts";
import type { KernelCacheStorage } from "../../src/gpu/compile/kernel_cache_storage.ts";
import { kernelCacheEnv } from "../../src/gpu/compile/cache_key_factors.ts";
import { fsKernelCacheStorage } from "../../src/runtime/gpu_cache_storage.ts";
import { acquireRuntimeGpu } from "../../src/runtime/gpu_device.ts";
import { createLlamaBackend, type LlamaBackendHandle } from "./llama_backend.ts";
import {
  type LoadedLlamaModel,
  loadLlamaModel,
  type ModelFileAccess,
} from "../../src/model/model_loader.ts";
import { llamaKernelConfig, uploadLlamaCheckpoint } from "../../src/model/llama_upload.ts";
import { currentRuntime } from "../../src/runtime/runtime.ts";
import { tmpdir } from "node:os";
import { BlockManager } from "./block_manager.ts";
import type { EngineServices } from "../../src/engine/engine_services.ts";
import { BlockHasher } from "../../src/kv/block_hash.ts";
import { Scheduler } from "./scheduler.ts";
import { sequenceFor } from "./request_sequence.ts";
import { modelCardFiles } from "./model_card_files.ts";
import { createGgufTokenizer } from "../../src/tokenizer/gguf_tokenizer.ts";

/** The KV cache memory the default block count stays within (f32 K and V of every layer). */
export const KV_BUDGET_BYTES = 512 * 2 ** 20;

/** Least time between two load-metrics publications while requests run (ms). */
export const LOAD_METRICS_INTERVAL_MS = 100;

/** The backends the engine runs on. */
export const LLAMA_BACKENDS = ["cpu", "webgpu-eager", "webgpu"] as const;

/** Options of {@link LlamaEngine}. */
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
   * {@link DEFAULT_MULTI_STEPS}; 1 = one step and one readback per token). Ignored on `cpu`.
   */
  readonly multiStep?: number;
}

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
  #backend?: Backend;
  #handle?: LlamaBackendHandle;
  #model?: LlamaModel;
  #pool?: KvCachePool;
  #runner?: LlamaBatchRunner;
  #multi?: LlamaMultiStepDecoder;
  #services?: EngineServices;
  #lastLoad = -Infinity;
  #blocks?: BlockManager;
  #scheduler?: Scheduler;
  #loaded?: LoadedLlamaModel;
  #maxLen = 0;
  #eos: number[] = [];
  #cleaned = false;

  constructor(options: LlamaEngineOptions) {
    this.options = options;
  }

  /**
   * Flags: `--model PATH` (required), `--backend cpu|webgpu-eager|webgpu`, `--block-size`,
   * `--num-blocks`, `--max-num-seqs`, `--max-num-batched-tokens`, `--max-model-len`,
   * `--max-tokens`, `--multi-step K` (greedy decode steps per submit on WebGPU), plus the
   * worker flags.
   */
  static fromArgs(argv: string[]): Promise<EngineSetup<LlamaEngine>> {
    try {
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
      const optional = (flag: string) =>
        values[flag as keyof typeof values] === undefined ? undefined : intFlag(values, flag, 0, 1);
      const engine = new LlamaEngine({
        model,
        backend: backend as LlamaEngineOptions["backend"],
        blockSize: optional("block-size"),
        numBlocks: optional("num-blocks"),
        maxNumSeqs: optional("max-num-seqs"),
        maxNumBatchedTokens: optional("max-num-batched-tokens"),
        maxModelLen: optional("max-model-len"),
        maxTokens: optional("max-tokens"),
        multiStep: optional("multi-step"),
      });
      const name = model.replace(/\/+$/, "").split("/").pop()!.replace(/\.gguf$/i, "");
      return Promise.resolve({ engine, worker: workerConfigFromFlags(values, name) });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Shared hashes of the prefix cache's blocks (those KV events describe); empty before start. */
  cachedHashes(): string[] {
    return this.#blocks?.cachedHashes() ?? [];
  }

  /** KV blocks a new allocation can take (free plus cached-but-unreferenced); 0 before start. */
  freeBlocks(): number {
    return this.#blocks?.freeCount() ?? 0;
  }

  /** KV usage, running and waiting requests, prefix-cache hit rate (empty before start). */
  stats(): EngineStats {
    const blocks = this.#blocks, scheduler = this.#scheduler;
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
    return this.#scheduler?.steps ?? 0;
  }

  /**
   * Limits greedy decode steps per submit to `steps` from the next scheduler step on (at most
   * the start's `multiStep`; 1 = one step and one readback per token). For benchmarks.
   */
  setMultiStep(steps: number): void {
    if (this.#scheduler) this.#scheduler.maxWindow = steps;
  }

  /** Multi-step decode windows run so far (for tests and benchmarks). */
  multiStepWindows(): number {
    return this.#scheduler?.windows ?? 0;
  }

  /** The loaded model (after `start`). */
  get loaded(): LoadedLlamaModel | undefined {
    return this.#loaded;
  }

  /** Compile counters of the kernel warm-up (WebGPU backends, after `start`). */
  get compileCounters(): LlamaBackendHandle["counters"] {
    return this.#handle?.counters;
  }

  /** The backend actually in use (after `start`; `cpu` after a fallback). */
  get backendName(): string | undefined {
    return this.#backend?.name;
  }

  /**
   * Loads and uploads the model. With `services`, the prefix cache's blocks are published as
   * KV events (stored / removed under the shared block hash), a resync snapshot provider is
   * registered, and load metrics go out while requests run and when the engine goes idle.
   */
  async start(_workerId: string, services?: EngineServices): Promise<EngineConfig> {
    const log = this.options.log ?? ((line: string) => console.error(line));
    const o = this.options;
    const started = performance.now();
    const loaded = await loadLlamaModel(o.model, o.files ?? currentRuntime(), log);
    this.#loaded = loaded;
    const c = loaded.checkpoint.config;
    const blockSize = o.blockSize ?? 16;
    this.#maxLen = Math.min(o.maxModelLen ?? Math.min(c.contextLength, 2048), c.contextLength);
    const maxBlocks = Math.ceil(this.#maxLen / blockSize);
    const maxNumSeqs = o.maxNumSeqs ?? 16;
    // Default: room for max-num-seqs full sequences within a 512 MiB f32 KV budget, but
    // always at least one full sequence.
    const blockBytes = c.layers * blockSize * c.kvHeads * c.headDim * 4 * 2;
    const numBlocks = o.numBlocks ??
      Math.max(
        maxBlocks,
        Math.min(maxBlocks * maxNumSeqs, Math.floor(KV_BUDGET_BYTES / blockBytes)),
      );
    const wanted = o.backend ?? "cpu";
    const runtime = currentRuntime();
    const env = (k: string) => runtime.env(k);
    const cacheEnv = kernelCacheEnv(
      {
        SLUICE_KERNEL_CACHE_DIR: env("SLUICE_KERNEL_CACHE_DIR"),
        SLUICE_DISABLE_KERNEL_CACHE: env("SLUICE_DISABLE_KERNEL_CACHE"),
      },
      `${tmpdir()}/sluice-kernels`,
    );
    this.#handle = await createLlamaBackend(
      wanted,
      llamaKernelConfig(loaded.checkpoint, { blockSize, maxBlocks }),
      {
        acquire: o.gpu ?? (() => acquireRuntimeGpu(log)),
        ownsDevice: !o.gpu,
        cache: o.kernelCache ?? { storage: fsKernelCacheStorage(), ...cacheEnv },
        buckets: o.warmBuckets ?? [1, 8],
      },
      log,
    );
    this.#backend = this.#handle.backend;
    log(
      `Loading ${c.arch} model (${c.layers} layers, hidden ${c.hidden}, vocab ${c.vocab}, ` +
        `${loaded.checkpoint.format}, RoPE ${c.ropeMode}) on backend ${this.#backend.name}`,
    );
    let last = -1;
    this.#model = uploadLlamaCheckpoint(this.#backend, loaded.checkpoint, {
      blockSize,
      maxBlocks,
      progress(done, total) {
        const pct = Math.floor((done / total) * 10) * 10;
        if (pct !== last) {
          last = pct;
          log(`Uploading weights: ${pct}% (${done}/${total} tensors)`);
        }
      },
    });
    this.#pool = createKvCachePool(this.#backend, this.#model.config, {
      layers: c.layers,
      numBlocks,
    });
    this.#runner = createLlamaBatchRunner(this.#backend, this.#model, this.#pool);
    this.#blocks = new BlockManager(
      numBlocks,
      blockSize,
      services && { sink: services.kv, hasher: await BlockHasher.create() },
    );
    const maxBatched = o.maxNumBatchedTokens ?? 256;
    const multiStep = o.multiStep ?? DEFAULT_MULTI_STEPS;
    if (multiStep > 1 && canCapture(this.#backend)) {
      this.#multi = createLlamaMultiStepDecoder(this.#backend, this.#model, this.#pool, {
        maxSteps: multiStep,
      });
    }
    this.#services = services;
    this.#scheduler = new Scheduler(
      {
        runner: this.#runner,
        multiStep: this.#multi,
        afterStep: (idle) => this.#publishLoad(idle),
      },
      this.#blocks,
      {
        maxSeqs: maxNumSeqs,
        maxBatchedTokens: maxBatched,
        maxBlocks,
      },
    );
    const modelFiles = await modelCardFiles(loaded, o.files ?? currentRuntime());
    // The GGUF vocabulary's end-of-generation ids (EOS, EOT, ...), as the frontend derives them.
    this.#eos = loaded.gguf
      ? [...createGgufTokenizer(loaded.gguf.metadata).eosTokenIds]
      : [...c.eosTokenIds];
    log(`Model ready in ${((performance.now() - started) / 1000).toFixed(2)} s`);
    const name = o.model.replace(/\/+$/, "").split("/").pop()!.replace(/\.gguf$/i, "");
    return {
      model: name,
      served_model_name: name,
      context_length: this.#maxLen,
      kv_cache_block_size: blockSize,
      total_kv_blocks: numBlocks,
      max_num_seqs: maxNumSeqs,
      max_num_batched_tokens: maxBatched,
      model_files: modelFiles,
    };
  }

  async *generate(
    request: GenerateRequest,
    context: RequestContext,
  ): AsyncGenerator<GenerateChunk> {
    const scheduler = this.#scheduler;
    if (!scheduler || this.#cleaned) {
      throw new SluiceError("EngineShutdown", "Cannot generate: the llama engine is not running");
    }
    const seq = sequenceFor(request, context.id, {
      vocab: this.#model!.config.vocab,
      maxLen: this.#maxLen,
      defaultMaxTokens: this.options.maxTokens ?? 256,
      eos: this.#eos,
    });
    const prompt = request.token_ids.length;
    const usage = (n: number) => ({
      ...makeUsage(prompt, n),
      ...(seq.cachedTokens ? { prompt_tokens_details: { cached_tokens: seq.cachedTokens } } : {}),
    });
    const onAbort = () => scheduler.remove(seq);
    context.signal.addEventListener("abort", onAbort, { once: true });
    try {
      if (context.isStopped()) {
        yield { token_ids: [], index: 0, finish_reason: "cancelled", completion_usage: usage(0) };
        return;
      }
      scheduler.add(seq);
      let sent = 0, cum = 0;
      const wantLogprobs = request.output_options.logprobs !== undefined;
      // Bounded: each round either yields tokens, ends, or returns on cancellation.
      while (true) {
        const events = await seq.take(context.signal);
        if (context.isStopped()) {
          scheduler.remove(seq);
          yield {
            token_ids: [],
            index: 0,
            finish_reason: "cancelled",
            completion_usage: usage(sent),
          };
          return;
        }
        const chunk: GenerateChunk = { token_ids: [], index: 0 };
        for (const e of events) {
          if (e.kind === "error") throw e.error;
          if (e.kind === "token") {
            chunk.token_ids.push(e.token);
            if (wantLogprobs) {
              (chunk.log_probs ??= []).push(e.logprob!);
              (chunk.top_logprobs ??= []).push(e.top!);
              cum += e.logprob!;
              chunk.cum_log_probs = cum;
            }
          } else {
            sent += chunk.token_ids.length;
            chunk.finish_reason = e.reason;
            if (e.stopToken !== undefined && e.reason === "stop") chunk.stop_reason = e.stopToken;
            chunk.completion_usage = usage(sent);
            yield chunk;
            return;
          }
        }
        sent += chunk.token_ids.length;
        if (chunk.token_ids.length) yield chunk;
      }
    } finally {
      context.signal.removeEventListener("abort", onAbort);
      scheduler.remove(seq);
    }
  }

  /** Publishes the load metrics (at most every {@link LOAD_METRICS_INTERVAL_MS} unless `force`). */
  #publishLoad(force: boolean): void {
    const services = this.#services, blocks = this.#blocks, scheduler = this.#scheduler;
    if (!services || !blocks || !scheduler) return;
    const now = performance.now();
    if (!force && now - this.#lastLoad < LOAD_METRICS_INTERVAL_MS) return;
    this.#lastLoad = now;
    services.publishLoadMetrics({
      kv_used_blocks: blocks.numBlocks - blocks.freeCount(),
      kv_total_blocks: blocks.numBlocks,
      inflight_requests: scheduler.active,
      waiting_requests: scheduler.waiting,
    });
  }

  async cleanup(): Promise<void> {
    if (this.#cleaned) return;
    this.#cleaned = true;
    try {
      await this.#scheduler?.close();
      this.#multi?.release();
      this.#runner?.release();
      this.#pool?.release();
      if (this.#model && this.#backend) releaseLlamaWeights(this.#backend, this.#model.weights);
      this.#handle?.release();
    } catch (error) {
      (this.options.log ?? console.error)(
        `llama engine cleanup failed: ${(error as Error).message}`,
      );
    }
  }
}

/** The llama engine's factory, for `run()` and `runConformance()`. */
export const llamaEngineFactory: EngineFactory<LlamaEngine> = LlamaEngine;
