/**
 * The OpenAI request bodies the frontend accepts (`/v1/chat/completions`,
 * `/v1/completions`), as zod schemas, plus the common vLLM / Dynamo extensions
 * (`top_k`, `min_p`, `repetition_penalty`, `min_tokens`, `ignore_eos`,
 * `skip_special_tokens`, `chat_template_kwargs`). Unknown fields are ignored,
 * as OpenAI-compatible servers do; fields whose meaning Sluice cannot honour
 * (`echo`, `suffix`, `best_of > 1`, non-empty `logit_bias`) are refused
 * with a 400 naming the field instead of being silently dropped.
 *
 * @module
 */
import { z } from "zod";
import { SluiceError } from "../errors/sluice_error.ts";

const tokenId = z.number().int().min(0).max(0x7fffffff);
const maybe = <T extends z.ZodType>(schema: T) => schema.nullish();

/** `stop`: one string or up to 16. */
const StopSchema = z.union([z.string().min(1), z.array(z.string().min(1)).max(16)]);

/** Most choices one request may ask for (prompts × `n`), as OpenAI's `n` bound. */
export const MAX_CHOICES = 128;

const onlyOne = (field: string) =>
  z.number().int().refine((v) => v === 1, { message: `only ${field}=1 is supported` });

/** Fields shared by both endpoints. */
const CommonFields = {
  model: z.string().min(1),
  stream: maybe(z.boolean()),
  stream_options: maybe(z.object({ include_usage: maybe(z.boolean()) })),
  max_tokens: maybe(z.number().int().min(1)),
  temperature: maybe(z.number().min(0).max(2)),
  top_p: maybe(z.number().gt(0).max(1)),
  n: maybe(z.number().int().min(1).max(MAX_CHOICES)),
  stop: maybe(StopSchema),
  seed: maybe(z.number().int()),
  presence_penalty: maybe(z.number().min(-2).max(2)),
  frequency_penalty: maybe(z.number().min(-2).max(2)),
  user: maybe(z.string()),
  logit_bias: maybe(
    z.record(z.string(), z.number()).refine((v) => Object.keys(v).length === 0, {
      message: "logit_bias is not supported",
    }),
  ),
  // vLLM / Dynamo extensions.
  top_k: maybe(z.number().int().min(-1)),
  min_p: maybe(z.number().min(0).max(1)),
  repetition_penalty: maybe(z.number().gt(0).max(10)),
  min_tokens: maybe(z.number().int().min(0)),
  ignore_eos: maybe(z.boolean()),
  skip_special_tokens: maybe(z.boolean()),
};

/** A chat message, checked in depth by the chat template's `toTemplateMessages`. */
const MessageSchema = z.looseObject({
  role: z.string(),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string() })), z.null()])
    .optional(),
});

/** The body of `POST /v1/chat/completions`. */
export const ChatCompletionRequestSchema = z.object({
  ...CommonFields,
  messages: z.array(MessageSchema).min(1, { message: "must contain at least one message" }),
  max_completion_tokens: maybe(z.number().int().min(1)),
  logprobs: maybe(z.boolean()),
  top_logprobs: maybe(z.number().int().min(0).max(20)),
  tools: maybe(z.array(z.looseObject({ type: z.string() }))),
  tool_choice: z.unknown().optional(),
  response_format: maybe(
    z.looseObject({
      type: z.enum(["text", "json_object", "json_schema"]),
      json_schema: z.looseObject({ schema: z.unknown().optional() }).optional(),
    }),
  ),
  chat_template_kwargs: maybe(z.record(z.string(), z.unknown())),
});

/**
 * The body of `POST /v1/completions`. `prompt` is text, token ids, or a list of either (one
 * choice per prompt and `n`, at most {@linkcode MAX_CHOICES} in all).
 */
export const CompletionRequestSchema = z.object({
  ...CommonFields,
  prompt: z.union([
    z.string(),
    z.array(z.string()).min(1).max(MAX_CHOICES),
    z.array(tokenId).min(1),
    z.array(z.array(tokenId).min(1)).min(1).max(MAX_CHOICES),
  ]),
  logprobs: maybe(z.number().int().min(0).max(20)),
  echo: maybe(z.boolean().refine((v) => !v, { message: "echo is not supported" })),
  suffix: maybe(z.string().max(0, { message: "suffix is not supported" })),
  best_of: maybe(onlyOne("best_of")),
});

/** A validated chat request. */
export type ChatCompletionRequest = z.output<typeof ChatCompletionRequestSchema>;
/** A validated completion request. */
export type CompletionRequest = z.output<typeof CompletionRequestSchema>;

/**
 * Validates `body` against `schema`.
 *
 * @throws {SluiceError} `InvalidArgument` naming the first offending field in `param`.
 * @example
 * ```ts
 * import { ChatCompletionRequestSchema, parseOpenAIRequest } from "./openai_request.ts";
 * const req = parseOpenAIRequest(ChatCompletionRequestSchema, {
 *   model: "m",
 *   messages: [{ role: "user", content: "hi" }],
 * });
 * console.assert(req.model === "m");
 * ```
 */
export function parseOpenAIRequest<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new SluiceError("InvalidArgument", "Invalid request: the body must be a JSON object", {
      code: "invalid_request",
    });
  }
  const result = schema.safeParse(body);
  if (result.success) {
    const data = result.data as { stream?: boolean | null; stream_options?: unknown };
    if (data.stream_options != null && data.stream !== true) {
      throw new SluiceError(
        "InvalidArgument",
        "Invalid request: stream_options: only allowed when stream is true",
        { param: "stream_options", code: "invalid_request" },
      );
    }
    return result.data;
  }
  const issue = result.error.issues[0];
  const param = issue.path.map(String).join(".") || undefined;
  const message = issue.code === "invalid_union" && param !== undefined
    ? `has an invalid type or value`
    : issue.message;
  throw new SluiceError(
    "InvalidArgument",
    `Invalid request: ${param ?? "body"}: ${message}`,
    { param, code: "invalid_request", cause: result.error },
  );
}
