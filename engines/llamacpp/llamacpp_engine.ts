/**
 * `--engine llamacpp`: a GGUF model served by llama.cpp through `node-llama-cpp`, behind the
 * engine contract.
 *
 * - One llama.cpp context with `--parallel` sequences. Each request leases a sequence (the one
 *   whose cached tokens share the longest prefix with its prompt: llama.cpp keeps that KV, and
 *   the usage reports it as `cached_tokens`), or waits in a bounded queue, or is refused with
 *   the worker's "busy" error. node-llama-cpp batches the pending decode steps of all sequences
 *   into one llama.cpp batch, so requests join and leave while others decode (continuous
 *   batching).
 * - Sampling maps one to one (temperature, top-k, top-p, min-p, seed, repetition / frequency /
 *   presence penalties over the last 64 tokens of prompt and output, as llama.cpp's penalties
 *   work). EOS, stop token ids, `min_tokens` (EOS and stop ids banned until reached),
 *   `max_tokens` and the context end are decided here, token by token. Logprobs come from
 *   llama.cpp's distribution for the sampled position.
 * - Cancellation: the stream ends with `"cancelled"` as soon as the signal fires (a decode step
 *   in flight finishes in the background, within one token), and the sequence returns to the
 *   pool in `finally`.
 * - Guided decoding maps to llama.cpp grammars (`guided_grammar.ts`).
 *
 * @module
 */
import { resolve } from "node:path";
import type { EngineSetup, LLMEngine } from "../../src/engine/engine.ts";
import type { EngineConfig } from "../../src/engine/engine_config.ts";
import type { GenerateChunk, TopLogprob } from "../../src/engine/generate_chunk.ts";
import type { GenerateRequest, GenerateRequestInput } from "../../src/engine/generate_request.ts";
import type { RequestContext } from "../../src/engine/request_context.ts";
import { SluiceError } from "../../src/errors/sluice_error.ts";
import { createLogger, type Logger, parseLogLevel } from "../../src/logging/logger.ts";
import { type GgufFileInfo, openGgufFile } from "../../src/model/gguf/gguf_file.ts";
import { currentRuntime, type Runtime } from "../../src/runtime/runtime.ts";
import { grammarFor } from "./guided_grammar.ts";
import { type LlamaCppOptions, parseLlamaCppArgs } from "./llamacpp_options.ts";
import { loadNodeLlamaCpp, type NodeLlamaCpp } from "./node_llama_cpp.ts";
import { type SequenceLease, SequencePool } from "./sequence_pool.ts";

/** Tokens of prompt and output the repetition penalties look back over (llama.cpp's default). */
const PENALTY_WINDOW = 64;

/** What the engine reports for metrics (`LLMEngine.stats`). */
export interface LlamaCppStats {
  /** Share of the context's KV cells holding tokens, 0 to 1. */
  kv_usage: number;
  /** Requests decoding now. */
  running_requests: number;
  /** Requests waiting for a sequence. */
  waiting_requests: number;
  /** Prompt tokens served from cached KV over all prompt tokens so far, 0 to 1. */
  kv_cache_hit_rate: number;
}

/** Dependencies an embedder or test may replace. */
export interface LlamaCppDeps {
  /** File access and environment (default: the current runtime). */
  runtime?: Pick<Runtime, "readFileRange" | "fileSize" | "env">;
  /** Where progress and lifecycle lines go (default: stderr at `DYN_LOG` level). */
  logger?: Logger;
  /** The `node-llama-cpp` module (default: imported on start). */
  loadModule?: () => Promise<NodeLlamaCpp>;
}

type Sequence = NodeLlamaCpp;

/** One generated token as node-llama-cpp's `evaluateWithMetadata` yields it. */
interface Step {
  token: number;
  confidence?: number;
  probabilities?: Map<number, number>;
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
  #pool: SequencePool<Sequence> | undefined;
  #sequences: Sequence[] = [];
  #contextSize = 0;
  #vocabSize = 0;
  #eog = new Set<number>();
  #promptTokens = 0;
  #cachedTokens = 0;
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
        { cause, code: "model_file_invalid" },
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
        { cause, code: "context_creation_failed" },
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
    let used = 0;
    for (const s of this.#sequences) used += s.disposed ? 0 : s.nextTokenIndex;
    const total = this.#contextSize * this.#sequences.length;
    return {
      kv_usage: total > 0 ? used / total : 0,
      running_requests: this.#pool?.running ?? 0,
      waiting_requests: this.#pool?.waiting ?? 0,
      kv_cache_hit_rate: this.#promptTokens > 0 ? this.#cachedTokens / this.#promptTokens : 0,
    };
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
    const prompt = request.token_ids;
    this.#checkPrompt(prompt, request);
    const stop = request.stop_conditions;
    const room = this.#contextSize - prompt.length;
    const maxNew = Math.min(stop.max_tokens || this.options.maxTokens || room, room);
    const grammar = await grammarFor(this.#llama, request.sampling_options.guided_decoding);
    let generated = 0;
    let cached = 0;
    const usage = () => ({
      prompt_tokens: prompt.length,
      completion_tokens: generated,
      total_tokens: prompt.length + generated,
      ...(cached > 0 ? { prompt_tokens_details: { cached_tokens: cached } } : {}),
    });
    const cancelled = (): GenerateChunk => ({
      token_ids: [],
      index: 0,
      finish_reason: "cancelled",
      completion_usage: usage(),
    });
    const lease = await pool.acquire(prompt, context.signal);
    if (lease === undefined) {
      yield cancelled();
      return;
    }
    let iterator: AsyncIterator<Step> | undefined;
    let pending: Promise<unknown> | undefined;
    try {
      const sequence = lease.sequence;
      cached = await this.#reusePrefix(sequence, prompt);
      this.#promptTokens += prompt.length;
      this.#cachedTokens += cached;
      const options = this.#samplingOptions(request, prompt, () => generated, grammar);
      const k = request.output_options.logprobs;
      const steps: AsyncIterator<Step> = sequence.evaluateWithMetadata(
        prompt.slice(cached),
        { confidence: k !== undefined, probabilities: k !== undefined && k > 0 },
        options,
      )[Symbol.asyncIterator]();
      iterator = steps;
      const eos = new Set(request.eos_token_ids.length > 0 ? request.eos_token_ids : this.#eog);
      const stopIds = new Set([
        ...(stop.stop_token_ids ?? []),
        ...(stop.stop_token_ids_hidden ?? []),
      ]);
      const aborted = abortPromise(context.signal);
      while (generated < maxNew) {
        if (context.isStopped()) {
          yield cancelled();
          return;
        }
        const step = steps.next();
        pending = step;
        const next = await Promise.race([step, aborted.promise]);
        if (next === ABORTED) {
          yield cancelled();
          return;
        }
        pending = undefined;
        const result = next as IteratorResult<Step>;
        if (result.done) {
          yield { token_ids: [], index: 0, finish_reason: "eos", completion_usage: usage() };
          return;
        }
        const { token, confidence, probabilities } = result.value;
        if (eos.has(token) && !stop.ignore_eos) {
          yield { token_ids: [], index: 0, finish_reason: "eos", completion_usage: usage() };
          return;
        }
        if (stopIds.has(token)) {
          yield {
            token_ids: [],
            index: 0,
            finish_reason: "stop",
            stop_reason: token,
            completion_usage: usage(),
          };
          return;
        }
        generated++;
        const chunk: GenerateChunk = { token_ids: [token], index: 0 };
        if (k !== undefined) {
          chunk.log_probs = [Math.log(Math.max(confidence ?? 0, Number.MIN_VALUE))];
          chunk.top_logprobs = [topLogprobs(token, confidence ?? 0, probabilities, k)];
        }
        if (generated >= maxNew) {
          chunk.finish_reason = "length";
          chunk.completion_usage = usage();
        }
        yield chunk;
      }
      if (generated === 0) {
        yield { token_ids: [], index: 0, finish_reason: "length", completion_usage: usage() };
      }
    } finally {
      await this.#finish(iterator, pending, lease);
    }
  }

  /** Ends the evaluation (waiting for a decode step in flight) and returns the sequence. */
  async #finish(
    iterator: AsyncIterator<unknown> | undefined,
    pending: Promise<unknown> | undefined,
    lease: SequenceLease<Sequence>,
  ): Promise<void> {
    try {
      await pending?.catch(() => undefined);
      await iterator?.return?.();
    } catch (error) {
      this.#logger.warn("ending a llama.cpp evaluation failed", { error: String(error) });
    } finally {
      lease.release();
    }
  }

  /** Keeps the longest cached prefix of `prompt` (at least one token is evaluated). */
  async #reusePrefix(sequence: Sequence, prompt: number[]): Promise<number> {
    let keep = sequence.compareContextTokens(prompt).firstDifferentIndex;
    keep = Math.min(keep, prompt.length - 1);
    if (keep < sequence.nextTokenIndex) {
      await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
    }
    return sequence.nextTokenIndex;
  }

  #checkPrompt(prompt: number[], request: GenerateRequest): void {
    if ((request.sampling_options.n ?? 1) > 1) {
      throw new SluiceError(
        "InvalidArgument",
        "Invalid request: the llamacpp engine generates one choice per request (n must be 1)",
        { param: "n" },
      );
    }
    if ((request.output_options.prompt_logprobs ?? 0) > 0) {
      throw new SluiceError(
        "InvalidArgument",
        "Invalid request: the llamacpp engine does not report prompt logprobs",
        { param: "prompt_logprobs" },
      );
    }
    if (prompt.length >= this.#contextSize) {
      throw new SluiceError(
        "InvalidArgument",
        `Invalid request: the prompt has ${prompt.length} tokens, the context holds ` +
          `${this.#contextSize} per sequence`,
        { param: "token_ids", code: "context_length_exceeded" },
      );
    }
    if (this.#vocabSize > 0) {
      for (const id of prompt) {
        if (id >= this.#vocabSize) {
          throw new SluiceError(
            "InvalidArgument",
            `Invalid request: token id ${id} is not below the vocabulary size ${this.#vocabSize}`,
            { param: "token_ids" },
          );
        }
      }
    }
  }

  #samplingOptions(
    request: GenerateRequest,
    prompt: number[],
    generatedCount: () => number,
    grammar: unknown,
  ): Record<string, unknown> {
    const s = request.sampling_options;
    const stop = request.stop_conditions;
    const options: Record<string, unknown> = {
      temperature: s.temperature ?? 1,
      topK: s.top_k === undefined || s.top_k < 0 ? 0 : s.top_k,
      topP: s.top_p ?? 1,
      minP: s.min_p ?? 0,
      seed: s.seed,
      yieldEogToken: true,
    };
    const history: number[] = [...prompt.slice(-PENALTY_WINDOW)];
    const penalised = (s.repetition_penalty ?? 1) !== 1 || (s.frequency_penalty ?? 0) !== 0 ||
      (s.presence_penalty ?? 0) !== 0;
    if (penalised) {
      options.repeatPenalty = {
        punishTokens: () => history,
        maxPunishTokens: PENALTY_WINDOW,
        penalty: s.repetition_penalty ?? 1,
        frequencyPenalty: s.frequency_penalty ?? 0,
        presencePenalty: s.presence_penalty ?? 0,
      };
    }
    if (grammar !== undefined) {
      options.grammarEvaluationState = new (this.#module.LlamaGrammarEvaluationState)({
        model: this.#model,
        grammar,
      });
    }
    const minTokens = stop.min_tokens ?? 0;
    if (minTokens > 0) {
      const banned = [
        ...(stop.ignore_eos
          ? []
          : request.eos_token_ids.length > 0
          ? request.eos_token_ids
          : this.#eog),
        ...(stop.stop_token_ids ?? []),
        ...(stop.stop_token_ids_hidden ?? []),
      ];
      const bias = new (this.#module.TokenBias)(this.#model.tokenizer);
      // TokenBias.set skips EOS/EOT; the bias map itself accepts them (node-llama-cpp 3.22).
      for (const id of banned) bias._biases.set(id, -Infinity);
      const none = new (this.#module.TokenBias)(this.#model.tokenizer);
      options.tokenBias = () => (generatedCount() < minTokens ? bias : none);
    }
    return options;
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

const ABORTED = Symbol("aborted");

/** A promise that resolves to {@linkcode ABORTED} when `signal` aborts (never rejects). */
function abortPromise(signal: AbortSignal): { promise: Promise<typeof ABORTED> } {
  return {
    promise: new Promise((resolve) => {
      if (signal.aborted) resolve(ABORTED);
      else signal.addEventListener("abort", () => resolve(ABORTED), { once: true });
    }),
  };
}

/** The top `k` entries (rank 1 = most likely), with the sampled token always present. */
function topLogprobs(
  token: number,
  confidence: number,
  probabilities: Map<number, number> | undefined,
  k: number,
): TopLogprob[] {
  const log = (p: number) => Math.log(Math.max(p, Number.MIN_VALUE));
  if (probabilities === undefined || k === 0) {
    return [{ rank: 1, token_id: token, logprob: log(confidence) }];
  }
  const sorted = [...probabilities.entries()].sort((a, b) => b[1] - a[1]);
  const out: TopLogprob[] = sorted.slice(0, k).map(([id, p], i) => ({
    rank: i + 1,
    token_id: id,
    logprob: log(p),
  }));
  if (!out.some((e) => e.token_id === token)) {
    const rank = sorted.findIndex(([id]) => id === token) + 1;
    out.push({
      rank: rank > 0 ? rank : sorted.length + 1,
      token_id: token,
      logprob: log(confidence),
    });
  }
  return out;
}
