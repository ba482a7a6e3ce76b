/**
 * The stream guard: a `TransformStream` that enforces the engine stream rules
 * and does the per-request accounting (token counts, TTFT, ITL) on the way
 * from `generate()` to the request plane.
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
  /** Gaps in milliseconds between consecutive token-carrying chunks. */
  itlMs: number[];
  /** The normalised finish reason, when a terminal arrived. */
  finishReason?: GenerateChunk["finish_reason"];
  /** True once the terminal chunk was forwarded. */
  terminated: boolean;
  /** Warnings about contract violations the guard corrected. */
  violations: string[];
}

/** Options for {@linkcode createStreamGuard}. */
export interface StreamGuardOptions {
  /** Prompt length, for usage filled in when the engine omits it. */
  promptTokens: number;
  /** Clock in milliseconds; injectable for tests. */
  now?(): number;
}

/**
 * Creates the guard. It MUST be the first transform after the engine stream:
 * - a chunk without `token_ids` array or integer `index` errors the stream;
 * - the first terminal chunk is forwarded, then the stream closes and the engine
 *   iterator is cancelled (its `finally` runs); anything after it is discarded;
 * - a source that ends without a terminal errors with `StreamIncomplete`;
 * - `finish_reason` is normalised (`"abort"` → `"cancelled"`);
 * - missing usage is filled in; a `completion_tokens` that disagrees with the counted
 *   tokens is corrected to the count (what the client received) and reported as a violation.
 */
export function createStreamGuard(options: StreamGuardOptions): StreamGuard {
  const now = options.now ?? (() => performance.now());
  const start = now();
  let last = 0;
  const stats: StreamStats = {
    completionTokens: 0,
    chunks: 0,
    itlMs: [],
    terminated: false,
    violations: [],
  };
  const stream = new TransformStream<GenerateChunk, GenerateChunk>({
    transform(chunk, controller) {
      if (
        chunk === null || typeof chunk !== "object" || !Array.isArray(chunk.token_ids) ||
        !Number.isInteger(chunk.index)
      ) {
        const error = new SluiceError(
          "Unknown",
          "Cannot forward engine output: chunk lacks a token_ids array or an integer index",
        );
        controller.error(error);
        return;
      }
      const n = chunk.token_ids.length;
      if (n > 0) {
        const t = now();
        if (stats.ttftMs === undefined) stats.ttftMs = t - start;
        else stats.itlMs.push(t - last);
        last = t;
        stats.completionTokens += n;
      }
      stats.chunks++;
      if (chunk.finish_reason === undefined) {
        controller.enqueue(chunk);
        return;
      }
      const reason = normalizeFinishReason(chunk.finish_reason);
      stats.finishReason = reason;
      let usage = chunk.completion_usage;
      if (usage === undefined) {
        usage = makeUsage(options.promptTokens, stats.completionTokens);
      } else if (usage.completion_tokens !== stats.completionTokens) {
        stats.violations.push(
          `completion_tokens ${usage.completion_tokens} != ${stats.completionTokens} tokens streamed`,
        );
        usage = {
          ...usage,
          completion_tokens: stats.completionTokens,
          total_tokens: usage.prompt_tokens + stats.completionTokens,
        };
      }
      controller.enqueue({ ...chunk, finish_reason: reason, completion_usage: usage });
      stats.terminated = true;
      controller.terminate();
    },
    flush(controller) {
      if (stats.terminated) return;
      controller.error(
        new SluiceError(
          "StreamIncomplete",
          "Cannot complete stream: engine output ended without a terminal chunk",
        ),
      );
    },
  });
  return { stream, stats };
}

/** A guard: the transform to pipe through and the live statistics it keeps. */
export interface StreamGuard {
  readonly stream: TransformStream<GenerateChunk, GenerateChunk>;
  readonly stats: Readonly<StreamStats>;
}
