/**
 * `GenerateChunk`: one item of an engine's output stream, and the finish
 * reasons that mark the terminal item.
 *
 * @module
 */

/** Why a stream finished. `{error}` carries an engine-reported failure as data. */
export type FinishReason =
  | "eos"
  | "length"
  | "stop"
  | "cancelled"
  | "content_filter"
  | { error: string };

/** Token accounting carried by the terminal chunk. */
export interface CompletionUsage {
  /** Tokens in the prompt. */
  prompt_tokens: number;
  /** Tokens generated; MUST equal the sum of `token_ids` lengths over the stream. */
  completion_tokens: number;
  /** `prompt_tokens + completion_tokens`. */
  total_tokens: number;
  /** `cached_tokens`: prompt tokens served from the prefix cache, when it hit. */
  prompt_tokens_details?: { cached_tokens?: number };
}

/** One entry of `top_logprobs`. Rank 1 is the most likely token. */
export interface TopLogprob {
  /** 1-based rank among the entries of one position. */
  rank: number;
  /** The token id. */
  token_id: number;
  /** The token's text, when the engine knows it (the frontend fills it in otherwise). */
  token?: string;
  /** Natural-log probability of the token. */
  logprob: number;
}

/**
 * One chunk of an engine's output.
 *
 * Rules (enforced by the runtime's stream guard):
 * - every chunk MUST carry `token_ids` (may be empty) and `index` (0 for one choice);
 * - exactly one terminal chunk (with `finish_reason`) and it MUST be the last;
 * - the terminal chunk SHOULD carry `completion_usage`; `completion_tokens` MUST equal
 *   the sum of `token_ids` lengths over the stream.
 */
export interface GenerateChunk {
  /** Tokens generated since the previous chunk; MAY be empty (a terminal often is). */
  token_ids: number[];
  /** The choice this chunk belongs to: 0 for a single choice, up to `n - 1`. */
  index: number;
  /** The tokens' text, if the engine detokenizes. Passed through; the frontend decodes `token_ids`. */
  text?: string;
  /** Set on the terminal chunk only; nothing may follow it. */
  finish_reason?: FinishReason;
  /** The stop string or token id that ended the stream (`"stop"`). Passed through, not read. */
  stop_reason?: string | number;
  /** Token accounting; carried by the terminal chunk (the runtime fills it in when missing). */
  completion_usage?: CompletionUsage;
  /** Log-probability of each token in `token_ids`, aligned with it. */
  log_probs?: number[];
  /** Per token in `token_ids`: the top entries (the sampled token is always included). */
  top_logprobs?: TopLogprob[][];
  /** Cumulative log-probability of the tokens generated so far. */
  cum_log_probs?: number;
  /** Prefill-to-decode hand-off data (disaggregated serving). Passed through, not read. */
  disaggregated_params?: unknown;
  /** Engine-specific data. Passed through, not read by the runtime. */
  engine_data?: unknown;
}

/** Normalises engine spellings: `"abort"` → `"cancelled"`; unknown strings become `{error}`. */
export function normalizeFinishReason(reason: unknown): FinishReason {
  switch (reason) {
    case "eos":
    case "length":
    case "stop":
    case "cancelled":
    case "content_filter":
      return reason;
    case "abort":
    case "aborted":
      return "cancelled";
  }
  if (typeof reason === "object" && reason !== null && "error" in reason) {
    return { error: String((reason as { error: unknown }).error) };
  }
  return { error: `unknown finish reason ${JSON.stringify(reason)}` };
}

/** OpenAI's `finish_reason` for a Sluice one. */
export function openAIFinishReason(reason: FinishReason): "stop" | "length" | "content_filter" {
  if (reason === "length") return "length";
  if (reason === "content_filter") return "content_filter";
  return "stop";
}

/** Builds a usage object from counts. */
export function makeUsage(promptTokens: number, completionTokens: number): CompletionUsage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}
