/**
 * `GenerateRequest`: the token-in request every engine receives, with the zod
 * schema that validates it at the worker boundary. Field names are snake_case
 * on the wire, as in Dynamo's `PreprocessedRequest`.
 *
 * @module
 */
import { z } from "zod";
import type { Expect, IsSameType, Schema } from "./schema.ts";
import { ErrorCode } from "../errors/error_code.ts";
import { invalidArgumentFromZod } from "./zod_error.ts";

/** Hard cap on prompt length accepted by any worker (engines enforce their own context length). */
export const MAX_PROMPT_TOKENS = 1 << 20;

/** When generation ends. Stop strings and stop tokens are not included in output. */
export interface StopConditions {
  /** Most tokens to generate (0 or more); absent: the engine's own limit. Ends with `"length"`. */
  max_tokens?: number;
  /** Up to 64 non-empty strings; generation ends when the output contains one (`"stop"`). */
  stop?: string[];
  /** Up to 1024 token ids that end generation when generated (`"stop"`). */
  stop_token_ids?: number[];
  /** Up to 1024 more ending token ids, never shown to the client (Dynamo's hidden stop tokens). */
  stop_token_ids_hidden?: number[];
  /** Fewest tokens to generate before EOS or a stop condition may end the stream. */
  min_tokens?: number;
  /** When true, EOS tokens do not end generation (benchmarks, health canaries). */
  ignore_eos?: boolean;
}

/** Constrained output. At most one field MAY be set; the schema refuses more. */
export interface GuidedDecoding {
  /** A JSON Schema the output must match. */
  json?: unknown;
  /** A regular expression the output must match. */
  regex?: string;
  /** The output must be exactly one of these strings. */
  choice?: string[];
  /** A grammar (engine-specific syntax) the output must match. */
  grammar?: string;
}

/** How tokens are sampled. Absent fields leave the choice to the engine. */
export interface SamplingOptions {
  /** Number of choices, 1 to 128 (chunk `index` tells them apart). */
  n?: number;
  /** 0 to 100; 0 means greedy. */
  temperature?: number;
  /** Nucleus sampling mass, in (0, 1]. */
  top_p?: number;
  /** Keep the k most likely tokens; -1 means all. */
  top_k?: number;
  /** Drop tokens less likely than `min_p` times the most likely one, in [0, 1]. */
  min_p?: number;
  /** Seed for reproducible sampling. */
  seed?: number;
  /** In [-2, 2]; penalises tokens that already appeared. */
  presence_penalty?: number;
  /** In [-2, 2]; penalises tokens by how often they appeared. */
  frequency_penalty?: number;
  /** In (0, 10]; 1 means none. */
  repetition_penalty?: number;
  /** Constrained output; see {@linkcode GuidedDecoding}. */
  guided_decoding?: GuidedDecoding;
}

/** What to report besides tokens. */
export interface OutputOptions {
  /**
   * Top entries reported per generated token (0 to 20), in `GenerateChunk.top_logprobs`;
   * the sampled token is always included.
   */
  logprobs?: number;
  /** Top entries reported per prompt token (0 to 20). */
  prompt_logprobs?: number;
  /** When true, special tokens are left out of the text. */
  skip_special_tokens?: boolean;
}

/** Optional routing hints. Unknown hints are kept (passed through to the engine). */
export interface RoutingHints {
  /** Decimal id of the worker instance that should serve the request. */
  backend_instance_id?: string;
  /** Data-parallel rank that should serve the request. */
  dp_rank?: number;
  /** Scheduling priority. */
  priority?: number;
  /** Other hints, kept as given. */
  [key: string]: unknown;
}

/**
 * A validated request, as engines receive it (defaults filled in). Engines MUST treat it
 * as read-only: the worker validated it once and may still read it (accounting, logs).
 */
export interface GenerateRequest {
  /** The tokenised prompt: 1 to {@linkcode MAX_PROMPT_TOKENS} ids in [0, 2^31). */
  token_ids: number[];
  /** The model the request is for. */
  model: string;
  /** When generation ends. Default `{}`. */
  stop_conditions: StopConditions;
  /** How tokens are sampled. Default `{}`. */
  sampling_options: SamplingOptions;
  /** What to report besides tokens. Default `{}`. */
  output_options: OutputOptions;
  /** Up to 1024 end-of-sequence ids; one ends the stream with `"eos"` unless `ignore_eos`. Default `[]`. */
  eos_token_ids: number[];
  /** Up to 256 requests for extra information from the engine (Dynamo annotations). Default `[]`. */
  annotations: string[];
  /** Where to route the request. */
  routing?: RoutingHints;
  /** Engine-specific arguments, passed through untouched. */
  extra_args?: Record<string, unknown>;
  /**
   * Marks the worker's health canary. Engines SHOULD skip cross-worker work for it; the
   * worker keeps it out of request metrics.
   */
  _HEALTH_CHECK?: boolean;
}

/**
 * A request as callers may write it: {@linkcode GenerateRequest} with the defaulted fields
 * optional. Unknown top-level fields are refused.
 */
export interface GenerateRequestInput {
  /** The tokenised prompt: 1 to {@linkcode MAX_PROMPT_TOKENS} ids in [0, 2^31). */
  token_ids: number[];
  /** The model the request is for. */
  model: string;
  /** When generation ends. */
  stop_conditions?: StopConditions;
  /** How tokens are sampled. */
  sampling_options?: SamplingOptions;
  /** What to report besides tokens. */
  output_options?: OutputOptions;
  /** End-of-sequence ids. */
  eos_token_ids?: number[];
  /** Requests for extra information from the engine. */
  annotations?: string[];
  /** Where to route the request. */
  routing?: RoutingHints;
  /** Engine-specific arguments, passed through untouched. */
  extra_args?: Record<string, unknown>;
  /** Marks the worker's health canary. */
  _HEALTH_CHECK?: boolean;
}

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

const schema = z.object({
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

/** The schema of {@linkcode GenerateRequest}. Unknown top-level fields are rejected. */
export const GenerateRequestSchema: Schema<GenerateRequest> = schema;

type _SameOutput = Expect<IsSameType<GenerateRequest, z.output<typeof schema>>>;
type _SameInput = Expect<IsSameType<GenerateRequestInput, z.input<typeof schema>>>;

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
  throw invalidArgumentFromZod(result.error, "Cannot accept request", {
    code: ErrorCode.InvalidRequest,
  });
}
