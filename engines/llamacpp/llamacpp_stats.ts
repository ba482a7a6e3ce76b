/**
 * What the llama.cpp engine reports for metrics: KV usage over the context's sequences, the
 * pool's running and waiting requests, and the prefix-cache hit rate over all prompts so far.
 *
 * @module
 */

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

/** What the stats read from a sequence. */
export interface KvSequence {
  /** The sequence has been freed (its cells count as empty). */
  readonly disposed: boolean;
  /** Tokens held in the sequence's KV cells. */
  readonly nextTokenIndex: number;
}

/** Counts prompt tokens and the share of them served from cached KV. */
export class PrefixCacheCounter {
  #promptTokens = 0;
  #cachedTokens = 0;

  /** Records one prompt of `promptTokens` tokens, `cachedTokens` of them reused from KV. */
  record(promptTokens: number, cachedTokens: number): void {
    this.#promptTokens += promptTokens;
    this.#cachedTokens += cachedTokens;
  }

  /** Cached over all prompt tokens so far, 0 to 1 (0 before any prompt). */
  get hitRate(): number {
    return this.#promptTokens > 0 ? this.#cachedTokens / this.#promptTokens : 0;
  }
}

/**
 * The engine's stats. `pool` is undefined before start and after cleanup; its counts MUST then
 * read 0. `kv_usage` MUST be 0 when there are no sequences.
 */
export function llamaCppStats(
  sequences: readonly KvSequence[],
  contextSize: number,
  pool: { readonly running: number; readonly waiting: number } | undefined,
  counter: PrefixCacheCounter,
): LlamaCppStats {
  let used = 0;
  for (const s of sequences) used += s.disposed ? 0 : s.nextTokenIndex;
  const total = contextSize * sequences.length;
  return {
    kv_usage: total > 0 ? used / total : 0,
    running_requests: pool?.running ?? 0,
    waiting_requests: pool?.waiting ?? 0,
    kv_cache_hit_rate: counter.hitRate,
  };
}
