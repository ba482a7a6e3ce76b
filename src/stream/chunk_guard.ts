/**
 * The chunk guard: the pure state machine behind the stream rules and the
 * per-request accounting (token counts, TTFT, ITL). Used by the worker's
 * engine stream and by {@linkcode createStreamGuard} for any other stream.
 *
 * @module
 */
import { SluiceError } from "../errors/sluice_error.ts";
import { type GenerateChunk, makeUsage, normalizeFinishReason } from "../engine/generate_chunk.ts";

/** What the guard measured for one stream, so far. */
export interface StreamStats {
  /** Sum of `token_ids` lengths over the stream. */
  completionTokens: number;
  /** Number of chunks forwarded. */
  chunks: number;
  /** Milliseconds from guard creation to the first chunk carrying tokens (undefined if none). */
  ttftMs?: number;
  /** Milliseconds from the first to the last token-carrying chunk (0 with fewer than two). */
  decodeMs: number;
  /** The normalised finish reason, when a terminal arrived. */
  finishReason?: GenerateChunk["finish_reason"];
  /** True once the terminal chunk was accepted. */
  terminated: boolean;
  /** Contract violations the guard corrected (for logs). */
  violations: string[];
}

/** Options for {@linkcode ChunkGuard}. */
export interface ChunkGuardOptions {
  /** Prompt length, for usage filled in when the engine omits it. */
  promptTokens: number;
  /** Clock in milliseconds; injectable for tests. */
  now?(): number;
  /** Called with each gap (ms) between consecutive token-carrying chunks, for ITL metrics. */
  onGap?(ms: number): void;
}

/**
 * Applies the rules to each chunk:
 * - a chunk without a `token_ids` array or an integer `index` is an error;
 * - `finish_reason` is normalised (`"abort"` → `"cancelled"`);
 * - on the terminal, missing usage is filled in, and a `completion_tokens` that disagrees
 *   with the counted tokens is corrected to the count (what the client received) and
 *   recorded as a violation;
 * - after the terminal, nothing more is accepted (the caller stops the source).
 */
export class ChunkGuard {
  /** What the guard measured so far; updated in place by {@linkcode ChunkGuard.accept}. */
  readonly stats: StreamStats = {
    completionTokens: 0,
    chunks: 0,
    decodeMs: 0,
    terminated: false,
    violations: [],
  };
  #promptTokens: number;
  #now: () => number;
  #onGap: ((ms: number) => void) | undefined;
  #start: number;
  #first = 0;
  #last = 0;

  /** Creates a guard for one stream; TTFT is measured from this moment. */
  constructor(options: ChunkGuardOptions) {
    this.#promptTokens = options.promptTokens;
    this.#now = options.now ?? (() => performance.now());
    this.#onGap = options.onGap;
    this.#start = this.#now();
  }

  /**
   * Checks one chunk and returns the chunk to forward (the same object unless the terminal
   * needed normalising).
   * @throws {SluiceError} `Unknown` for a malformed chunk.
   */
  accept(chunk: GenerateChunk): GenerateChunk {
    if (
      chunk === null || typeof chunk !== "object" || !Array.isArray(chunk.token_ids) ||
      !Number.isInteger(chunk.index)
    ) {
      throw new SluiceError(
        "Unknown",
        "Cannot forward engine output: chunk lacks a token_ids array or an integer index",
      );
    }
    const stats = this.stats;
    const n = chunk.token_ids.length;
    if (n > 0) {
      const t = this.#now();
      if (stats.ttftMs === undefined) {
        stats.ttftMs = t - this.#start;
        this.#first = t;
      } else {
        this.#onGap?.(t - this.#last);
        stats.decodeMs = t - this.#first;
      }
      this.#last = t;
      stats.completionTokens += n;
    }
    stats.chunks++;
    if (chunk.finish_reason === undefined) return chunk;
    const reason = normalizeFinishReason(chunk.finish_reason);
    stats.finishReason = reason;
    stats.terminated = true;
    let usage = chunk.completion_usage;
    if (usage === undefined) {
      usage = makeUsage(this.#promptTokens, stats.completionTokens);
    } else if (usage.completion_tokens !== stats.completionTokens) {
      stats.violations.push(
        `completion_tokens ${usage.completion_tokens} != ${stats.completionTokens} tokens streamed`,
      );
      usage = {
        ...usage,
        completion_tokens: stats.completionTokens,
        total_tokens: usage.prompt_tokens + stats.completionTokens,
      };
    } else if (reason === chunk.finish_reason) {
      return chunk;
    }
    return { ...chunk, finish_reason: reason, completion_usage: usage };
  }

  /** The error for a source that ended before its terminal. */
  incomplete(): SluiceError {
    return new SluiceError(
      "StreamIncomplete",
      "Cannot complete stream: engine output ended without a terminal chunk",
    );
  }
}
