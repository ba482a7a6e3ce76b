/**
 * Preprocessing: a validated OpenAI request plus the model's resources →
 * a {@linkcode PreparedGeneration}. Chat requests are rendered with the model's chat
 * template and tokenized without adding special tokens (the template wrote them);
 * completion prompts are tokenized with them, or taken as token ids.
 *
 * @module
 */
import type { ChatMessage } from "../chat_template/chat_message.ts";
import { SluiceError, toSluiceError } from "../errors/sluice_error.ts";
import type { ModelCard } from "../model_card/model_card.ts";
import { ChoiceDecoder } from "./choice_decoder.ts";
import { buildGenerateRequest, stopStrings } from "./generate_request_builder.ts";
import type { PreparedGeneration } from "./generation_handler.ts";
import type { ModelResources } from "./model_resources.ts";
import type { ChatCompletionRequest, CompletionRequest } from "./openai_request.ts";
import { chatCompletionFormat, completionFormat } from "./response_format.ts";

/** Request-level context that does not come from the body. */
export interface PrepareContext {
  card: ModelCard;
  resources: ModelResources;
  /** `x-worker-instance-id` header. */
  instanceId?: string;
  /** `traceparent` header. */
  traceparent?: string;
  /** One choice of several (`n`, list prompts): its index and the shared id and time. */
  choice?: { index: number; id: string; created: number };
  /**
   * The prompt's token ids when already known (the other choices of the same prompt):
   * rendering and tokenizing are skipped.
   */
  promptTokenIds?: number[];
}

function invalid(message: string, param: string, cause?: unknown): SluiceError {
  return new SluiceError("InvalidArgument", `Invalid request: ${message}`, {
    param,
    code: "invalid_request",
    cause,
  });
}

function requireEndpoint(card: ModelCard, type: "chat" | "completions"): void {
  if (!card.model_type.includes(type)) {
    throw invalid(
      `model "${card.served_model_name}" does not serve the ${type} endpoint`,
      "model",
    );
  }
}

/**
 * The precise field a message error names, in OpenAI's dotted form: the chat template's
 * `Invalid messages[0].content[1].text: …` → `messages.0.content.1.text`.
 */
export function messageParam(message: string): string {
  const match = /Invalid (messages(?:\[\d+\]|\.[A-Za-z_]+)*)/.exec(message);
  if (match === null) return "messages";
  return match[1].replace(/\[(\d+)\]/g, ".$1");
}

/** The checks of a chat request that need no rendering. */
function checkChat(request: ChatCompletionRequest, context: PrepareContext): void {
  requireEndpoint(context.card, "chat");
  if (context.resources.chatTemplate === undefined) {
    throw invalid(`model "${request.model}" has no chat template; use /v1/completions`, "model");
  }
  if (request.top_logprobs != null && request.logprobs !== true) {
    throw invalid("top_logprobs requires logprobs to be true", "top_logprobs");
  }
}

/**
 * Renders a chat request with the model's chat template (after the checks that need no
 * rendering). @throws {SluiceError} `InvalidArgument` naming the offending message field.
 */
export function renderChatPrompt(request: ChatCompletionRequest, context: PrepareContext): string {
  checkChat(request, context);
  try {
    return context.resources.chatTemplate!.render(request.messages as unknown as ChatMessage[], {
      tools: request.tools ?? undefined,
      variables: request.chat_template_kwargs ?? undefined,
    });
  } catch (error) {
    const message = toSluiceError(error).message;
    throw invalid(message, messageParam(message), error);
  }
}

/** The texts of a chat request's messages (string contents and text parts), for size checks. */
export function chatTexts(request: ChatCompletionRequest): string[] {
  const texts: string[] = [];
  for (const message of request.messages) {
    const content = message.content;
    if (typeof content === "string") texts.push(content);
    else if (Array.isArray(content)) {
      for (const part of content) if (typeof part.text === "string") texts.push(part.text);
    }
  }
  return texts;
}

/**
 * Prepares a chat completion; renders and tokenizes unless `context.promptTokenIds` holds
 * the ids already. @throws {SluiceError} `InvalidArgument` for what the model cannot take.
 */
export function prepareChatCompletion(
  request: ChatCompletionRequest,
  context: PrepareContext,
): PreparedGeneration {
  checkChat(request, context);
  const { tokenizer, eosTokenIds } = context.resources;
  const tokenIds = context.promptTokenIds ??
    tokenizer.encode(renderChatPrompt(request, context), { addSpecialTokens: false });
  if (tokenIds.length === 0) throw invalid("the rendered prompt is empty", "messages");
  const topLogprobs = request.logprobs ? request.top_logprobs ?? 0 : undefined;
  return prepared(request, context, "chat_completions", tokenIds, topLogprobs, eosTokenIds);
}

/** Prepares a completion. @throws {SluiceError} `InvalidArgument` for an empty or invalid prompt. */
export function prepareCompletion(
  request: CompletionRequest,
  context: PrepareContext,
): PreparedGeneration {
  requireEndpoint(context.card, "completions");
  const { tokenizer, eosTokenIds } = context.resources;
  // One prompt: text or token ids (a list of prompts is split by the caller, one choice each).
  const prompt = Array.isArray(request.prompt) && request.prompt.length === 1 &&
      (typeof request.prompt[0] === "string" || Array.isArray(request.prompt[0]))
    ? request.prompt[0]
    : request.prompt;
  if (Array.isArray(prompt) && prompt.some((p) => typeof p !== "number")) {
    throw invalid("expected one prompt here; split a list of prompts first", "prompt");
  }
  let tokenIds: number[];
  if (context.promptTokenIds !== undefined) {
    tokenIds = context.promptTokenIds;
  } else if (typeof prompt === "string") {
    tokenIds = tokenizer.encode(prompt, { addSpecialTokens: true });
  } else {
    tokenIds = [...(prompt as number[])];
    const bad = tokenIds.find((id) => id >= tokenizer.vocabSize);
    if (bad !== undefined) {
      throw invalid(`token id ${bad} is outside the vocabulary (${tokenizer.vocabSize})`, "prompt");
    }
  }
  if (tokenIds.length === 0) throw invalid("the prompt is empty", "prompt");
  const topLogprobs = request.logprobs ?? undefined;
  return prepared(request, context, "completions", tokenIds, topLogprobs, eosTokenIds);
}

function prepared(
  request: ChatCompletionRequest | CompletionRequest,
  context: PrepareContext,
  endpoint: PreparedGeneration["endpoint"],
  tokenIds: number[],
  topLogprobs: number | undefined,
  eosTokenIds: readonly number[],
): PreparedGeneration {
  const payload = buildGenerateRequest(request, {
    tokenIds,
    eosTokenIds,
    contextLength: context.card.context_length,
    logprobs: topLogprobs,
  });
  const stream = request.stream === true;
  const includeUsage = stream && request.stream_options?.include_usage === true;
  const formatOptions = { model: request.model, includeUsage, ...context.choice };
  return {
    model: request.model,
    endpoint,
    payload,
    promptTokens: tokenIds.length,
    stream,
    includeUsage,
    format: endpoint === "chat_completions"
      ? chatCompletionFormat(formatOptions)
      : completionFormat(formatOptions),
    choice: new ChoiceDecoder(context.resources.tokenizer, {
      stop: stopStrings(request.stop),
      topLogprobs,
      decoder: context.resources.createDecoder({
        skipSpecialTokens: request.skip_special_tokens ?? true,
        promptTokenIds: tokenIds,
      }),
      tokenBytes: context.resources.tokenBytes,
    }),
    logprobs: topLogprobs !== undefined,
    instanceId: context.instanceId,
    traceparent: context.traceparent,
  };
}
