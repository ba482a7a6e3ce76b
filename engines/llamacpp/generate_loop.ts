/**
 * One request's generation on a leased llama.cpp sequence: lease a sequence from the pool (or
 * wait, or be refused), keep the longest cached prefix of the prompt, evaluate the rest, and
 * decide EOS, stop token ids, `max_tokens` and the context end token by token, with logprobs
 * from llama.cpp's distribution for the sampled position.
 *
 * Cancellation: the stream ends with `"cancelled"` as soon as the signal fires (a decode step in
 * flight finishes in the background, within one token), and the sequence returns to the pool
 * in `finally`.
 *
 * @module
 */
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
import type { GenerateRequest } from "../../src/engine/generate_request.ts";
import type { RequestContext } from "../../src/engine/request_context.ts";
import type { Logger } from "../../src/logging/logger.ts";
import { grammarFor } from "./guided_grammar.ts";
import type { NodeLlamaCpp } from "./node_llama_cpp.ts";
import { checkLlamaCppRequest } from "./request_check.ts";
import { type SamplingModel, samplingOptions } from "./sampling_options.ts";
import type { SequenceLease, SequencePool } from "./sequence_pool.ts";
import type { PrefixCacheCounter } from "./llamacpp_stats.ts";
import { logOf, topLogprobs } from "./top_logprobs.ts";

/** A node-llama-cpp `LlamaContextSequence`. */
export type LlamaSequence = NodeLlamaCpp;

/** One generated token as node-llama-cpp's `evaluateWithMetadata` yields it. */
interface Step {
  token: number;
  confidence?: number;
  probabilities?: Map<number, number>;
}

/** What a generation needs from the started engine. */
export interface GenerationModel extends SamplingModel {
  /** The `Llama` instance (grammars are built on it). */
  // deno-lint-ignore no-explicit-any
  llama: any;
  /** The context's sequences. */
  pool: SequencePool<LlamaSequence>;
  /** Cells per sequence. */
  contextSize: number;
  /** Tokens in the vocabulary (0: unknown). */
  vocabSize: number;
  /** The engine's default `max_tokens` (0: up to the context end). */
  maxTokens: number;
  /** Where prompt and cached token counts go. */
  counter: PrefixCacheCounter;
  /** Where a failure to end an evaluation is reported. */
  logger: Logger;
}

/**
 * Generates one request's tokens. Invalid requests MUST throw before a sequence is leased; the
 * stream MUST end with exactly one chunk carrying a finish reason and the usage; the leased
 * sequence MUST be released exactly once, however the stream ends.
 */
export async function* generateOnSequence(
  m: GenerationModel,
  request: GenerateRequest,
  context: RequestContext,
): AsyncGenerator<GenerateChunk> {
  const prompt = request.token_ids;
  checkLlamaCppRequest(request, m.contextSize, m.vocabSize);
  const stop = request.stop_conditions;
  const room = m.contextSize - prompt.length;
  const maxNew = Math.min(stop.max_tokens || m.maxTokens || room, room);
  const grammar = await grammarFor(m.llama, request.sampling_options.guided_decoding);
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
  const lease = await m.pool.acquire(prompt, context.signal);
  if (lease === undefined) {
    yield cancelled();
    return;
  }
  let iterator: AsyncIterator<Step> | undefined;
  let pending: Promise<unknown> | undefined;
  try {
    const sequence = lease.sequence;
    cached = await reusePrefix(sequence, prompt);
    m.counter.record(prompt.length, cached);
    const options = samplingOptions(m, request, prompt, () => generated, grammar);
    const k = request.output_options.logprobs;
    const steps: AsyncIterator<Step> = sequence.evaluateWithMetadata(
      prompt.slice(cached),
      { confidence: k !== undefined, probabilities: k !== undefined && k > 0 },
      options,
    )[Symbol.asyncIterator]();
    iterator = steps;
    const eos = new Set(request.eos_token_ids.length > 0 ? request.eos_token_ids : m.eog);
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
        chunk.log_probs = [logOf(confidence ?? 0)];
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
    await finish(m.logger, iterator, pending, lease);
  }
}

/** Ends the evaluation (waiting for a decode step in flight) and returns the sequence. */
async function finish(
  logger: Logger,
  iterator: AsyncIterator<unknown> | undefined,
  pending: Promise<unknown> | undefined,
  lease: SequenceLease<LlamaSequence>,
): Promise<void> {
  try {
    await pending?.catch(() => undefined);
    await iterator?.return?.();
  } catch (error) {
    logger.warn("ending a llama.cpp evaluation failed", { error: String(error) });
  } finally {
    lease.release();
  }
}

/** Keeps the longest cached prefix of `prompt` (at least one token is evaluated). */
async function reusePrefix(sequence: LlamaSequence, prompt: number[]): Promise<number> {
  let keep = sequence.compareContextTokens(prompt).firstDifferentIndex;
  keep = Math.min(keep, prompt.length - 1);
  if (keep < sequence.nextTokenIndex) {
    await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
  }
  return sequence.nextTokenIndex;
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
