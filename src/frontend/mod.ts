/**
 * The OpenAI-compatible HTTP frontend: request validation, preprocessing from model
 * cards (chat template, tokenizer), routing, SSE streaming, metrics.
 *
 * @module
 */
export { createFrontend, DEFAULT_MAX_BODY_BYTES } from "./frontend_app.ts";
export type { Frontend, FrontendOptions } from "./frontend_app.ts";
export { ChoiceDecoder } from "./choice_decoder.ts";
export type {
  ChoiceDecoderOptions,
  ChoiceDelta,
  OpenAIFinishReason,
  TokenLogprob,
  TopTokenLogprob,
} from "./choice_decoder.ts";
export { createFrontendMetrics } from "./frontend_metrics.ts";
export type { FrontendMetrics } from "./frontend_metrics.ts";
export { buildGenerateRequest, stopStrings } from "./generate_request_builder.ts";
export type { GenerateRequestContext } from "./generate_request_builder.ts";
export { serveGeneration } from "./generation_handler.ts";
export type { GenerationDeps, PreparedGeneration } from "./generation_handler.ts";
export { ModelResourceLoader } from "./model_resources.ts";
export type { ModelResourceLoaderOptions, ModelResources } from "./model_resources.ts";
export {
  ALL_WORKERS_BUSY_BODY,
  errorResponse,
  errorTypeFor,
  httpErrorFrom,
  openAIError,
} from "./openai_error.ts";
export type { HttpError, OpenAIErrorBody } from "./openai_error.ts";
export {
  ChatCompletionRequestSchema,
  CompletionRequestSchema,
  parseOpenAIRequest,
} from "./openai_request.ts";
export type { ChatCompletionRequest, CompletionRequest } from "./openai_request.ts";
export { prepareChatCompletion, prepareCompletion } from "./preprocessor.ts";
export type { PrepareContext } from "./preprocessor.ts";
export {
  chatCompletionFormat,
  chatLogprobs,
  completionFormat,
  completionLogprobs,
} from "./response_format.ts";
export type { ResponseFormat, ResponseFormatOptions } from "./response_format.ts";
export { DEFAULT_SSE_BUFFER, SseBody } from "./sse_body.ts";
