/**
 * Turns a validated `GenerateRequest` into a scheduler {@link Sequence} for one model: checks
 * what this engine cannot serve (n > 1, guided decoding, prompt logprobs, ids outside the
 * vocabulary, prompts that fill the context) with `InvalidArgument` errors naming the field,
 * and derives its sampler and stop rules (`max_tokens` within the context, EOS ids from the
 * request or else the model, visible and hidden stop ids, `min_tokens`, `ignore_eos`).
 *
 * @module
 */
import type { GenerateRequest } from "../../src/engine/generate_request.ts";
import { SluiceError } from "../../src/errors/sluice_error.ts";
import { Sequence } from "./sequence.ts";
import { createSampler } from "./token_sampler.ts";

/** What the request is checked against. */
export interface SequenceLimits {
  /** Vocabulary size: ids MUST be below it. */
  readonly vocab: number;
  /** Longest sequence served (prompt + output). */
  readonly maxLen: number;
  /** Tokens generated when the request sets no `max_tokens` (or 0). */
  readonly defaultMaxTokens: number;
  /** The model's EOS ids, used when the request names none. */
  readonly eos: readonly number[];
}

/** Validates `request` and builds its sequence; throws `InvalidArgument` `SluiceError`s. */
export function sequenceFor(
  request: GenerateRequest,
  id: string,
  limits: SequenceLimits,
): Sequence {
  const s = request.sampling_options, stop = request.stop_conditions;
  const bad = (param: string, why: string) =>
    new SluiceError("InvalidArgument", `Cannot accept request: ${why}`, { param });
  if ((s.n ?? 1) !== 1) {
    throw bad("sampling_options.n", "the llama engine generates one choice (n = 1)");
  }
  if (s.guided_decoding) {
    throw bad(
      "sampling_options.guided_decoding",
      "guided decoding is not supported by the llama engine",
    );
  }
  if (request.output_options.prompt_logprobs) {
    throw bad(
      "output_options.prompt_logprobs",
      "prompt logprobs are not supported by the llama engine",
    );
  }
  if (request.token_ids.some((t) => t >= limits.vocab)) {
    throw bad("token_ids", `a token id is outside the model's vocabulary of ${limits.vocab}`);
  }
  if (request.token_ids.length >= limits.maxLen) {
    throw bad(
      "token_ids",
      `the prompt has ${request.token_ids.length} tokens; the context is ${limits.maxLen}`,
    );
  }
  const room = limits.maxLen - request.token_ids.length;
  // `||`, as the sample engine and Dynamo do: max_tokens 0 means "engine default".
  const maxTokens = Math.min(stop.max_tokens || limits.defaultMaxTokens, room);
  const eos = stop.ignore_eos
    ? new Set<number>()
    : new Set(request.eos_token_ids.length ? request.eos_token_ids : limits.eos);
  return new Sequence(
    id,
    request.token_ids,
    createSampler({
      temperature: s.temperature,
      topK: s.top_k,
      topP: s.top_p,
      minP: s.min_p,
      seed: s.seed,
      repetitionPenalty: s.repetition_penalty,
      frequencyPenalty: s.frequency_penalty,
      presencePenalty: s.presence_penalty,
      logprobs: request.output_options.logprobs,
    }),
    {
      maxTokens,
      eos,
      stop: new Set([...(stop.stop_token_ids ?? []), ...(stop.stop_token_ids_hidden ?? [])]),
      minTokens: stop.min_tokens ?? 0,
    },
  );
}
