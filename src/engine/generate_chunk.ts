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
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
}

/** One entry of `top_logprobs`. Rank 1 is the most likely token. */
export interface TopLogprob {
  rank: number;
  token_id: number;
  token?: string;
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
  token_ids: number[];
  index: number;
  text?: string;
  finish_reason?: FinishReason;
  stop_reason?: string | number;
  completion_usage?: CompletionUsage;
  /** Log-probability of each token in `token_ids`, aligned with it. */
  log_probs?: number[];
  /** Per token in `token_ids`: the top entries (the sampled token is always included). */
  top_logprobs?: TopLogprob[][];
  cum_log_probs?: number;
  disaggregated_params?: unknown;
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
