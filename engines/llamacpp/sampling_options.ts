/**
 * A request's sampling options mapped to node-llama-cpp's evaluation options, one to one:
 * temperature, top-k, top-p, min-p, seed; repetition / frequency / presence penalties over the
 * last {@linkcode PENALTY_WINDOW} tokens of the prompt (as llama.cpp's penalties work); a
 * grammar for guided decoding; and `min_tokens` as a token bias that bans EOS and the stop ids
 * until that many tokens have been generated.
 *
 * @module
 */
import type { GenerateRequest } from "../../src/engine/generate_request.ts";
import type { NodeLlamaCpp } from "./node_llama_cpp.ts";

/** Tokens of prompt and output the repetition penalties look back over (llama.cpp's default). */
export const PENALTY_WINDOW = 64;

/** The loaded llama.cpp objects the options are built from. */
export interface SamplingModel {
  /** The `node-llama-cpp` module (for `LlamaGrammarEvaluationState` and `TokenBias`). */
  module: NodeLlamaCpp;
  /** The loaded `LlamaModel`. */
  // deno-lint-ignore no-explicit-any
  model: any;
  /** The model's end-of-generation tokens (used when the request names no EOS ids). */
  eog: ReadonlySet<number>;
}

/**
 * The options for `sequence.evaluateWithMetadata`. `generatedCount` MUST return the number of
 * tokens generated so far (the `min_tokens` bias reads it before each token); `grammar` is a
 * llama.cpp grammar from `grammarFor`, or undefined. EOG tokens MUST be yielded (the caller
 * decides the finish reason).
 */
export function samplingOptions(
  loaded: SamplingModel,
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
    options.grammarEvaluationState = new (loaded.module.LlamaGrammarEvaluationState)({
      model: loaded.model,
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
        : loaded.eog),
      ...(stop.stop_token_ids ?? []),
      ...(stop.stop_token_ids_hidden ?? []),
    ];
    const bias = new (loaded.module.TokenBias)(loaded.model.tokenizer);
    // TokenBias.set skips EOS/EOT; the bias map itself accepts them (node-llama-cpp 3.22).
    for (const id of banned) bias._biases.set(id, -Infinity);
    const none = new (loaded.module.TokenBias)(loaded.model.tokenizer);
    options.tokenBias = () => (generatedCount() < minTokens ? bias : none);
  }
  return options;
}
