/**
 * The mocker: a simulated vLLM-like engine for routing, load and failure tests without a
 * GPU (Dynamo's mocker, CONTRACT.md §8). Requests go through a real paged-KV block manager
 * with prefix caching and a continuous-batching scheduler; each iteration sleeps the time
 * the timing model predicts (divided by `--speedup-ratio`), then emits one token per
 * decoding sequence. Token ids are deterministic: a function of the seed, the prompt and
 * the position. KV events and load metrics go out through the engine services handle.
 *
 * @module
 */
import { z } from "zod";
import type { EngineSetup, LLMEngine } from "../../src/engine/engine.ts";
import type { EngineConfig } from "../../src/engine/engine_config.ts";
import type { EngineServices } from "../../src/engine/engine_services.ts";
import {
  type CompletionUsage,
  type GenerateChunk,
  makeUsage,
} from "../../src/engine/generate_chunk.ts";
import type { GenerateRequest } from "../../src/engine/generate_request.ts";
import type { RequestContext } from "../../src/engine/request_context.ts";
import { ErrorCode, SluiceError } from "../../src/errors/sluice_error.ts";
import { BlockHasher } from "../../src/kv/block_hash.ts";
import { currentRuntime } from "../../src/runtime/runtime.ts";
import { BlockManager } from "./block_manager.ts";
import { MOCKER_DEFAULTS, type MockerOptions, parseMockerArgs } from "./mocker_args.ts";
import { Scheduler } from "./scheduler.ts";
import { Sequence } from "./sequence.ts";
import { iterationMs } from "./timing_model.ts";

/** Context length when no `--model-path` config gives one. */
export const DEFAULT_CONTEXT_LENGTH = 32768;
const VOCAB = 32000;
const LOAD_METRICS_INTERVAL_MS = 100;

const ModelConfigSchema = z.object({ max_position_embeddings: z.number().int().positive() });

/** Deterministic token `index` of a request: a 32-bit mix of seed, prompt digest and position. */
export function mockToken(seed: number, promptDigest: number, index: number): number {
  let h = (seed ^ promptDigest ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) % VOCAB;
}

function digest(tokens: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const t of tokens) h = Math.imul(h ^ t, 0x01000193);
  return h >>> 0;
}

/** Per-request delivery from the engine loop to the request's generator. */
interface Outbox {
  tokens: number[];
  finished: boolean;
  wake: (() => void) | undefined;
}

/**
 * The mocker engine.
 *
 * @example
 * ```ts
 * import { MockerEngine } from "./mocker_engine.ts";
 * const engine = new MockerEngine({ speedupRatio: 0 });
 * await engine.start("1");
 * await engine.cleanup();
 * ```
 */
export class MockerEngine implements LLMEngine {
  readonly options: MockerOptions;
  #services: EngineServices | undefined;
  #blocks: BlockManager | undefined;
  #scheduler: Scheduler | undefined;
  #outboxes = new Map<Sequence, Outbox>();
  #contextLength = DEFAULT_CONTEXT_LENGTH;
  #wakeLoop: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #stopped = false;
  #nextId = 0;
  #lastMetrics = 0;

  /** Builds the engine; cheap, nothing starts until `start`. */
  constructor(options: Partial<MockerOptions> = {}) {
    this.options = { ...MOCKER_DEFAULTS, ...options };
  }

  /** Flags as Dynamo's mocker names them (see `mocker_args.ts`), plus the worker flags. */
  static fromArgs(argv: string[]): Promise<EngineSetup<MockerEngine>> {
    try {
      const { options, worker } = parseMockerArgs(argv);
      return Promise.resolve({ engine: new MockerEngine(options), worker });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The block manager (after `start`), for tests and metrics. */
  get blockManager(): BlockManager | undefined {
    return this.#blocks;
  }

  /** The scheduler (after `start`), for tests and metrics. */
  get scheduler(): Scheduler | undefined {
    return this.#scheduler;
  }

  /** Simulates start-up, reads the context length, builds the KV cache and the scheduler. */
  async start(_workerId: string, services?: EngineServices): Promise<EngineConfig> {
    const o = this.options;
    if (o.modelPath !== undefined) this.#contextLength = await readContextLength(o.modelPath);
    if (o.startupTime > 0) await new Promise((r) => setTimeout(r, o.startupTime * 1000));
    this.#services = services;
    const hasher = await BlockHasher.create();
    this.#blocks = new BlockManager({
      totalBlocks: o.numGpuBlocks,
      prefixCaching: o.enablePrefixCaching,
      sink: services?.kv,
    });
    this.#scheduler = new Scheduler(
      {
        blockSize: o.blockSize,
        maxNumSeqs: o.maxNumSeqs,
        maxNumBatchedTokens: o.maxNumBatchedTokens,
        chunkedPrefill: o.enableChunkedPrefill,
        watermark: o.watermark,
      },
      this.#blocks,
      hasher,
    );
    this.#loop = this.#run();
    return {
      model: o.modelPath ?? o.modelName,
      served_model_name: o.modelName,
      context_length: this.#contextLength,
      kv_cache_block_size: o.blockSize,
      total_kv_blocks: o.numGpuBlocks,
      max_num_seqs: o.maxNumSeqs,
      max_num_batched_tokens: o.maxNumBatchedTokens,
    };
  }

  async *generate(req: GenerateRequest, ctx: RequestContext): AsyncGenerator<GenerateChunk> {
    const scheduler = this.#scheduler;
    if (scheduler === undefined || this.#stopped) {
      throw new SluiceError("EngineShutdown", "Cannot generate: the mocker is not running");
    }
    const o = this.options;
    const prompt = req.token_ids;
    // `||` as the sample engine (and Dynamo's): max_tokens 0 means "engine default".
    const maxTokens = req.stop_conditions?.max_tokens || o.maxTokens;
    if (prompt.length + maxTokens > this.#contextLength) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot generate: prompt (${prompt.length}) plus max_tokens (${maxTokens}) exceeds the context length ${this.#contextLength}`,
        { param: "max_tokens", code: ErrorCode.ContextLengthExceeded },
      );
    }
    if (Math.ceil((prompt.length + maxTokens) / o.blockSize) > o.numGpuBlocks) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot generate: the request needs more KV blocks than the cache has (${o.numGpuBlocks})`,
        { param: "max_tokens" },
      );
    }
    if (!o.enableChunkedPrefill && prompt.length > o.maxNumBatchedTokens) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot generate: prompt (${prompt.length}) exceeds max_num_batched_tokens without chunked prefill`,
        { param: "token_ids" },
      );
    }
    const seed = req.sampling_options?.seed ?? o.seed;
    const promptDigest = digest(prompt);
    let index = 0;
    const seq = new Sequence(
      `${++this.#nextId}`,
      prompt,
      maxTokens,
      () => mockToken(seed, promptDigest, index++),
    );
    const box: Outbox = { tokens: [], finished: false, wake: undefined };
    this.#outboxes.set(seq, box);
    const onAbort = () => box.wake?.();
    ctx.signal.addEventListener("abort", onAbort);
    let sent = 0;
    const usage = (): CompletionUsage => {
      const u = makeUsage(prompt.length, sent);
      if (seq.cachedTokens !== undefined && seq.cachedTokens > 0) {
        u.prompt_tokens_details = { cached_tokens: seq.cachedTokens };
      }
      return u;
    };
    try {
      scheduler.add(seq);
      this.#wakeLoop?.();
      while (true) {
        if (ctx.isStopped()) {
          scheduler.cancel(seq);
          yield { token_ids: [], index: 0, finish_reason: "cancelled", completion_usage: usage() };
          return;
        }
        if (box.tokens.length > 0) {
          const tokens = box.tokens;
          box.tokens = [];
          sent += tokens.length;
          if (box.finished) {
            yield {
              token_ids: tokens,
              index: 0,
              finish_reason: "length",
              completion_usage: usage(),
            };
            return;
          }
          yield { token_ids: tokens, index: 0 };
          continue;
        }
        await new Promise<void>((resolve) => (box.wake = resolve));
        box.wake = undefined;
      }
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
      scheduler.cancel(seq); // frees its blocks at once on every exit path
      this.#outboxes.delete(seq);
    }
  }

  /** Stops the engine loop; idempotent, tolerates an engine that never started. */
  async cleanup(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#wakeLoop?.();
    await this.#loop;
    this.#services = undefined;
  }

  /** The engine loop: plan an iteration, sleep its simulated time, deliver its tokens. */
  async #run(): Promise<void> {
    const scheduler = this.#scheduler!;
    let clock = performance.now();
    while (!this.#stopped) {
      if (scheduler.idle) {
        this.#publishLoad(true);
        await new Promise<void>((resolve) => (this.#wakeLoop = resolve));
        this.#wakeLoop = undefined;
        clock = performance.now();
        continue;
      }
      const plan = scheduler.schedule();
      if (plan.work.length === 0) {
        // Nothing can run now (it cannot happen with valid requests): do not spin.
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      const ms = iterationMs(
        plan.prefillTokens,
        plan.decodes,
        plan.occupancy,
        this.options.speedupRatio,
      );
      // A virtual clock: iterations add up exactly even though timers fire late.
      clock = Math.max(clock, performance.now() - 50) + ms;
      const wait = clock - performance.now();
      await new Promise((resolve) => setTimeout(resolve, wait >= 1 ? wait : 0));
      for (const { seq, token, finished } of scheduler.complete(plan)) {
        const box = this.#outboxes.get(seq);
        if (box === undefined) continue;
        box.tokens.push(token);
        box.finished = finished;
        box.wake?.();
      }
      this.#publishLoad(false);
    }
  }

  #publishLoad(force: boolean): void {
    const services = this.#services;
    if (services === undefined) return;
    const now = performance.now();
    if (!force && now - this.#lastMetrics < LOAD_METRICS_INTERVAL_MS) return;
    this.#lastMetrics = now;
    const scheduler = this.#scheduler!;
    services.publishLoadMetrics({
      kv_used_blocks: this.#blocks!.usedBlocks,
      kv_total_blocks: this.options.numGpuBlocks,
      inflight_requests: scheduler.running.length + scheduler.waiting.length,
      waiting_requests: scheduler.waiting.length,
    });
  }
}

async function readContextLength(modelPath: string): Promise<number> {
  const file = modelPath.endsWith(".json")
    ? modelPath
    : `${modelPath.replace(/\/$/, "")}/config.json`;
  let text: string;
  try {
    text = await currentRuntime().readTextFile(file);
  } catch (error) {
    throw new SluiceError("CannotConnect", `Cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const parsed = ModelConfigSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot read the context length from ${file}: no max_position_embeddings`,
      { param: "--model-path" },
    );
  }
  return parsed.data.max_position_embeddings;
}
