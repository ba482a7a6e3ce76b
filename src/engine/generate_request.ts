/**
 * `GenerateRequest`: the token-in request every engine receives, with the zod
 * schema that validates it at the worker boundary. Field names are snake_case
 * on the wire, as in Dynamo's `PreprocessedRequest`.
 *
 * @module
 */
import { z } from "zod";
import { invalidArgumentFromZod } from "./zod_error.ts";

/** Hard cap on prompt length accepted by any worker (engines enforce their own context length). */
export const MAX_PROMPT_TOKENS = 1 << 20;

const tokenId = z.number().int().min(0).max(0x7fffffff);

/** Stop conditions of a request. Stop strings and stop tokens are not included in output. */
export const StopConditionsSchema = z.object({
  max_tokens: z.number().int().min(0).optional(),
  stop: z.array(z.string().min(1)).max(64).optional(),
  stop_token_ids: z.array(tokenId).max(1024).optional(),
  stop_token_ids_hidden: z.array(tokenId).max(1024).optional(),
  min_tokens: z.number().int().min(0).optional(),
  ignore_eos: z.boolean().optional(),
});

/** Guided decoding: at most one of json, regex, choice, grammar. */
export const GuidedDecodingSchema = z.object({
  json: z.unknown().optional(),
  regex: z.string().optional(),
  choice: z.array(z.string()).optional(),
  grammar: z.string().optional(),
}).refine(
  (g) => [g.json, g.regex, g.choice, g.grammar].filter((x) => x !== undefined).length <= 1,
  { message: "at most one of json, regex, choice, grammar may be set" },
);

/** Sampling options. `temperature` 0 means greedy; `top_k` -1 means all tokens. */
export const SamplingOptionsSchema = z.object({
  n: z.number().int().min(1).max(128).optional(),
  temperature: z.number().min(0).max(100).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  top_k: z.number().int().min(-1).optional(),
  min_p: z.number().min(0).max(1).optional(),
  seed: z.number().int().optional(),
  presence_penalty: z.number().min(-2).max(2).optional(),
  frequency_penalty: z.number().min(-2).max(2).optional(),
  repetition_penalty: z.number().gt(0).max(10).optional(),
  guided_decoding: GuidedDecodingSchema.optional(),
});

/** What to report besides tokens. `logprobs` is the number of top entries per token. */
export const OutputOptionsSchema = z.object({
  logprobs: z.number().int().min(0).max(20).optional(),
  prompt_logprobs: z.number().int().min(0).max(20).optional(),
  skip_special_tokens: z.boolean().optional(),
});

/** Optional routing hints. */
export const RoutingHintsSchema = z.object({
  backend_instance_id: z.string().optional(),
  dp_rank: z.number().int().min(0).optional(),
  priority: z.number().int().optional(),
}).passthrough();

/** The schema of {@linkcode GenerateRequest}. Unknown top-level fields are rejected. */
export const GenerateRequestSchema = z.object({
  token_ids: z.array(tokenId).min(1, { message: "must contain at least one token" }).max(
    MAX_PROMPT_TOKENS,
  ),
  model: z.string().min(1),
  stop_conditions: StopConditionsSchema.default({}),
  sampling_options: SamplingOptionsSchema.default({}),
  output_options: OutputOptionsSchema.default({}),
  eos_token_ids: z.array(tokenId).max(1024).default([]),
  annotations: z.array(z.string()).max(256).default([]),
  routing: RoutingHintsSchema.optional(),
  extra_args: z.record(z.string(), z.unknown()).optional(),
  _HEALTH_CHECK: z.boolean().optional(),
}).strict();

/** A validated request, as engines receive it (defaults filled in). */
export type GenerateRequest = z.output<typeof GenerateRequestSchema>;
/** A request as callers may write it (defaults optional). */
export type GenerateRequestInput = z.input<typeof GenerateRequestSchema>;

/**
 * Validates `value` as a {@linkcode GenerateRequest}.
 *
 * @throws {SluiceError} `InvalidArgument` naming the first offending field.
 * @example
 * ```ts
 * import { parseGenerateRequest } from "./generate_request.ts";
 * const req = parseGenerateRequest({ token_ids: [1, 2, 3], model: "m" });
 * console.assert(req.stop_conditions.max_tokens === undefined);
 * ```
 */
export function parseGenerateRequest(value: unknown): GenerateRequest {
  const result = GenerateRequestSchema.safeParse(value);
  if (result.success) return result.data;
  throw invalidArgumentFromZod(result.error, "Cannot accept request", { code: "invalid_request" });
}
