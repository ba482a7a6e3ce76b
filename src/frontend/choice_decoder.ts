/**
 * Post-processing of one choice: engine chunks (token ids) → OpenAI deltas (text,
 * logprobs, finish reason). Text comes from incremental detokenization, which never
 * splits a UTF-8 character; stop strings are applied on that text (the stop string is
 * not emitted, a string split across chunks is held back until it is decided).
 *
 * @module
 */
import {
  type CompletionUsage,
  type GenerateChunk,
  makeUsage,
  normalizeFinishReason,
  openAIFinishReason,
} from "../engine/generate_chunk.ts";
import { ErrorCode, SluiceError } from "../errors/sluice_error.ts";
import { createIncrementalDecoder } from "../tokenizer/incremental_decoder.ts";
import type { IncrementalDecoder } from "../tokenizer/incremental_decoder.ts";
import { createStopMatcher } from "../tokenizer/stop_matcher.ts";
import type { StopMatcher } from "../tokenizer/stop_matcher.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

/** OpenAI's finish reasons. */
export type OpenAIFinishReason = "stop" | "length" | "content_filter";

/** One alternative of a token's top logprobs. */
export interface TopTokenLogprob {
  token: string;
  logprob: number;
  /**
   * The token's own bytes when known (a token holding part of a UTF-8 character shows
   * U+FFFD as `token` but keeps its real bytes here); absent: the UTF-8 of `token`.
   */
  bytes?: number[];
}

/** The logprob of one generated token, with its top alternatives. */
export interface TokenLogprob {
  token: string;
  logprob: number;
  /** As {@linkcode TopTokenLogprob.bytes}. */
  bytes?: number[];
  top: TopTokenLogprob[];
}

/** What one engine chunk adds to the choice. */
export interface ChoiceDelta {
  /** New text (possibly `""`: held back by the decoder or a possible stop string). */
  text: string;
  /** Tokens this chunk carried. */
  tokenCount: number;
  /** Per token, when logprobs were requested and the engine sent them. */
  logprobs?: TokenLogprob[];
  /** Set on the last delta. */
  finishReason?: OpenAIFinishReason;
}

/** Options for {@linkcode ChoiceDecoder}. */
export interface ChoiceDecoderOptions {
  /** Stop strings; the text stops before the first match. */
  stop?: readonly string[];
  /** Top entries per token to report; `undefined` = no logprobs. */
  topLogprobs?: number;
  /** The prompt ids, used as decoding context for the first tokens. */
  promptTokenIds?: readonly number[];
  /** Drop special tokens (EOS, end of turn) from the text. Default `true`, as vLLM. */
  skipSpecialTokens?: boolean;
  /**
   * The detokenizer to use (e.g. `ModelResources.createDecoder`); when absent, the generic
   * window decoder over `tokenizer` with the options above.
   */
  decoder?: IncrementalDecoder;
  /**
   * A token's raw bytes, for logprob `bytes` (e.g. `ModelResources.tokenBytes`); when
   * absent or it returns `undefined`, the bytes of the token's text are reported.
   */
  tokenBytes?: (id: number) => Uint8Array | undefined;
}

/**
 * Turns one choice's engine chunks into deltas.
 *
 * @example
 * ```ts ignore
 * const choice = new ChoiceDecoder(tokenizer, { stop: ["\n"] });
 * for await (const chunk of stream) {
 *   const delta = choice.push(chunk);
 *   process(delta.text);
 *   if (choice.finished) break;
 * }
 * ```
 */
export class ChoiceDecoder {
  /** Tokens received so far (what usage reports as `completion_tokens`). */
  completionTokens = 0;
  /** True once the choice finished (terminal chunk or stop string). */
  finished = false;
  /** `cached_tokens` reported by the engine, if any. */
  cachedTokens: number | undefined;
  #tokenizer: Tokenizer;
  #decoder: IncrementalDecoder;
  #stop: StopMatcher | undefined;
  #topLogprobs: number | undefined;
  #tokenBytes: ((id: number) => Uint8Array | undefined) | undefined;

  constructor(tokenizer: Tokenizer, options: ChoiceDecoderOptions = {}) {
    this.#tokenizer = tokenizer;
    this.#decoder = options.decoder ?? createIncrementalDecoder(tokenizer, {
      skipSpecialTokens: options.skipSpecialTokens ?? true,
      context: options.promptTokenIds,
    });
    this.#stop = options.stop !== undefined && options.stop.length > 0
      ? createStopMatcher(options.stop)
      : undefined;
    this.#topLogprobs = options.topLogprobs;
    this.#tokenBytes = options.tokenBytes;
  }

  /**
   * Adds one engine chunk. After a delta with `finishReason`, `finished` is true and the
   * caller MUST stop reading (and, for a stop string, stop the upstream request).
   * @throws {SluiceError} when the engine finished with `{error}`, or sent an id the
   * tokenizer does not know.
   */
  push(chunk: GenerateChunk): ChoiceDelta {
    const ids = chunk.token_ids;
    this.completionTokens += ids.length;
    let text: string;
    try {
      text = ids.length > 0 ? this.#decoder.push(ids) : "";
      if (chunk.finish_reason !== undefined) text += this.#decoder.flush();
    } catch (error) {
      throw new SluiceError(
        "Unknown",
        `Cannot detokenize engine output: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const delta: ChoiceDelta = { text, tokenCount: ids.length };
    if (this.#topLogprobs !== undefined && chunk.log_probs !== undefined) {
      delta.logprobs = this.#logprobs(chunk);
    }
    if (this.#stop !== undefined) {
      const match = this.#stop.push(text);
      delta.text = match.emit;
      if (match.stopped) {
        delta.finishReason = "stop";
        this.finished = true;
        return delta;
      }
    }
    if (chunk.finish_reason !== undefined) {
      const reason = normalizeFinishReason(chunk.finish_reason);
      if (typeof reason === "object") {
        throw new SluiceError(
          "Unknown",
          `Cannot complete request: the engine failed: ${reason.error}`,
          {
            code: ErrorCode.EngineError,
          },
        );
      }
      if (this.#stop !== undefined) delta.text += this.#stop.flush();
      delta.finishReason = openAIFinishReason(reason);
      this.cachedTokens = chunk.completion_usage?.prompt_tokens_details?.cached_tokens;
      this.finished = true;
    }
    return delta;
  }

  /** Usage for a prompt of `promptTokens` tokens. */
  usage(promptTokens: number): CompletionUsage {
    const usage = makeUsage(promptTokens, this.completionTokens);
    if (this.cachedTokens !== undefined) {
      usage.prompt_tokens_details = { cached_tokens: this.cachedTokens };
    }
    return usage;
  }

  #bytesOf(id: number): number[] | undefined {
    const bytes = this.#tokenBytes?.(id);
    return bytes === undefined ? undefined : Array.from(bytes);
  }

  #logprobs(chunk: GenerateChunk): TokenLogprob[] {
    const out: TokenLogprob[] = [];
    const k = this.#topLogprobs!;
    chunk.token_ids.forEach((id, i) => {
      const entries = chunk.top_logprobs?.[i] ?? [];
      const top = [...entries].sort((a, b) => a.rank - b.rank).slice(0, k).map((e) => ({
        token: e.token ?? this.#tokenizer.tokenString(e.token_id),
        logprob: e.logprob,
        bytes: this.#bytesOf(e.token_id),
      }));
      out.push({
        token: this.#tokenizer.tokenString(id),
        logprob: chunk.log_probs![i] ?? Number.NaN,
        bytes: this.#bytesOf(id),
        top,
      });
    });
    return out;
  }
}
