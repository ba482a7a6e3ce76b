/**
 * OpenAI request fields → the engine's {@linkcode GenerateRequestInput}: sampling
 * options, stop conditions (stop strings are applied by the frontend on text AND
 * passed to the engine), output options, EOS ids and the context-length check.
 *
 * @module
 */
import type { GenerateRequestInput } from "../engine/generate_request.ts";
import { SluiceError } from "../errors/sluice_error.ts";
import type { ChatCompletionRequest, CompletionRequest } from "./openai_request.ts";

/** What the builder needs besides the OpenAI request. */
export interface GenerateRequestContext {
  /** The tokenized prompt. */
  tokenIds: number[];
  /** Ids that end generation (from the model card or the tokenizer). */
  eosTokenIds: readonly number[];
  /** The model's context length, when the card states it. */
  contextLength?: number;
  /** Top-k logprobs per token to ask the engine for, or `undefined` for none. */
  logprobs?: number;
}

/** The stop strings of a request as a list (OpenAI allows one string or a list). */
export function stopStrings(stop: string | string[] | null | undefined): string[] {
  if (stop === undefined || stop === null) return [];
  return typeof stop === "string" ? [stop] : stop;
}

function guidedDecoding(request: ChatCompletionRequest | CompletionRequest) {
  if (!("response_format" in request) || !request.response_format) return undefined;
  const format = request.response_format;
  if (format.type === "json_object") return { json: { type: "object" } };
  if (format.type === "json_schema") return { json: format.json_schema?.schema ?? {} };
  return undefined;
}

/**
 * Builds the engine request. Only fields the client set are sent, so engine defaults apply
 * to the rest (the sample engine's `--max-tokens`, for instance).
 *
 * @throws {SluiceError} `InvalidArgument` (`context_length_exceeded`) when the prompt, or the
 * prompt plus `max_tokens`, does not fit the context.
 * @example
 * ```ts
 * import { buildGenerateRequest } from "./generate_request_builder.ts";
 * const req = buildGenerateRequest(
 *   { model: "m", prompt: "hi", max_tokens: 4, temperature: 0 },
 *   { tokenIds: [1, 2], eosTokenIds: [0] },
 * );
 * console.assert(req.stop_conditions?.max_tokens === 4);
 * ```
 */
export function buildGenerateRequest(
  request: ChatCompletionRequest | CompletionRequest,
  context: GenerateRequestContext,
): GenerateRequestInput {
  const maxCompletionTokens = "max_completion_tokens" in request
    ? request.max_completion_tokens
    : null;
  const maxTokens = maxCompletionTokens ?? request.max_tokens ?? undefined;
  const promptTokens = context.tokenIds.length;
  const limit = context.contextLength;
  if (limit !== undefined && (promptTokens >= limit || promptTokens + (maxTokens ?? 0) > limit)) {
    throw new SluiceError(
      "InvalidArgument",
      `Invalid request: this model's maximum context length is ${limit} tokens, but ` +
        `${promptTokens + (maxTokens ?? 0)} were requested (${promptTokens} in the prompt, ` +
        `${maxTokens ?? 0} for the completion)`,
      {
        // The prompt when it alone does not fit; else the completion budget that overflowed.
        param: promptTokens >= limit || maxTokens === undefined
          ? ("messages" in request ? "messages" : "prompt")
          : maxCompletionTokens != null
          ? "max_completion_tokens"
          : "max_tokens",
        code: "context_length_exceeded",
      },
    );
  }
  const stop = stopStrings(request.stop);
  const defined = <T extends Record<string, unknown>>(value: T) => {
    for (const key of Object.keys(value)) if (value[key] === undefined) delete value[key];
    return value;
  };
  return {
    token_ids: context.tokenIds,
    model: request.model,
    stop_conditions: defined({
      max_tokens: maxTokens,
      stop: stop.length > 0 ? stop : undefined,
      min_tokens: request.min_tokens ?? undefined,
      ignore_eos: request.ignore_eos ?? undefined,
    }),
    sampling_options: defined({
      n: 1,
      temperature: request.temperature ?? undefined,
      top_p: request.top_p ?? undefined,
      top_k: request.top_k ?? undefined,
      min_p: request.min_p ?? undefined,
      seed: request.seed ?? undefined,
      presence_penalty: request.presence_penalty ?? undefined,
      frequency_penalty: request.frequency_penalty ?? undefined,
      repetition_penalty: request.repetition_penalty ?? undefined,
      guided_decoding: guidedDecoding(request),
    }),
    output_options: defined({
      logprobs: context.logprobs,
      skip_special_tokens: request.skip_special_tokens ?? undefined,
    }),
    eos_token_ids: [...context.eosTokenIds],
  };
}
