/**
 * The generation endpoints' handler (`POST /v1/chat/completions`,
 * `POST /v1/completions`): decodes and validates the body, resolves the model,
 * tokenizes the prompt(s), and serves one choice or several.
 *
 * @module
 */
import type { Context } from "hono";
import { ErrorCode, SluiceError } from "../errors/sluice_error.ts";
import { WORKER_INSTANCE_HEADER } from "../router/direct_policy.ts";
import type { RoutingTable } from "../router/routing_table.ts";
import type { FrontendMetrics } from "./frontend_metrics.ts";
import { serveGeneration } from "./generation_handler.ts";
import type { ModelResourceLoader } from "./model_resources.ts";
import { errorResponse, httpErrorFrom } from "./openai_error.ts";
import {
  type ChatCompletionRequest,
  ChatCompletionRequestSchema,
  type CompletionRequest,
  CompletionRequestSchema,
  parseOpenAIRequest,
} from "./openai_request.ts";
import { completionPrompts, prepareChoices, serveChoices } from "./multi_choice.ts";
import {
  chatTexts,
  prepareChatCompletion,
  prepareCompletion,
  type PrepareContext,
  renderChatPrompt,
} from "./preprocessor.ts";
import { checkPromptSize, encodeYielding } from "./prompt_tokens.ts";

/** Decodes request bodies; invalid UTF-8 is an error, never silently replaced. */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Which generation endpoint: chat completions or (legacy) completions. */
export type GenerationKind = "chat" | "completions";

/**
 * Handles one generation request. It MUST NOT throw: every failure (bad UTF-8 or
 * JSON, schema errors, unknown model, oversized prompt, routing) becomes an
 * OpenAI-style error response and counts in `metrics.errors`.
 */
export async function handleGeneration(
  c: Context,
  kind: GenerationKind,
  table: RoutingTable,
  loader: ModelResourceLoader,
  metrics: FrontendMetrics,
  deps: Parameters<typeof serveGeneration>[2],
): Promise<Response> {
  let model = "";
  try {
    let body: unknown;
    let text: string;
    try {
      text = strictUtf8.decode(await c.req.arrayBuffer());
    } catch (error) {
      throw new SluiceError("InvalidArgument", "Invalid request: the body is not valid UTF-8", {
        code: ErrorCode.InvalidJson,
        cause: error,
      });
    }
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new SluiceError(
        "InvalidArgument",
        `Invalid request: the body is not valid JSON (${(error as Error).message})`,
        {
          code: ErrorCode.InvalidJson,
          cause: error,
        },
      );
    }
    const request = kind === "chat"
      ? parseOpenAIRequest(ChatCompletionRequestSchema, body)
      : parseOpenAIRequest(CompletionRequestSchema, body);
    const card = table.card(request.model);
    if (card === undefined) {
      throw new SluiceError("InvalidArgument", `The model \`${request.model}\` does not exist`, {
        param: "model",
        code: ErrorCode.ModelNotFound,
      });
    }
    model = request.model;
    const context: PrepareContext = {
      card,
      resources: await loader.get(card),
      instanceId: c.req.header(WORKER_INSTANCE_HEADER),
      traceparent: c.req.header("traceparent"),
    };
    const { tokenizer } = context.resources;
    if (kind === "chat") {
      const chat = request as ChatCompletionRequest;
      // Refuse what cannot fit from its size, before rendering and tokenizing it.
      checkPromptSize(chatTexts(chat), tokenizer, card.context_length, "messages");
      const ids = await encodeYielding(tokenizer, renderChatPrompt(chat, context), {
        addSpecialTokens: false,
      });
      if ((chat.n ?? 1) === 1) {
        const prepared = prepareChatCompletion(chat, { ...context, promptTokenIds: ids });
        return await serveGeneration(prepared, c.req.raw, deps);
      }
      const id = `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`;
      const choices = prepareChoices(chat, [null], context, prepareChatCompletion, id, [ids]);
      return await serveChoices(choices, c.req.raw, deps);
    }
    const completion = request as CompletionRequest;
    const prompts = completionPrompts(completion.prompt);
    const texts = prompts.filter((p): p is string => typeof p === "string");
    checkPromptSize(texts, tokenizer, card.context_length, "prompt");
    const promptIds: (number[] | undefined)[] = [];
    for (const prompt of prompts) {
      promptIds.push(
        typeof prompt === "string"
          ? await encodeYielding(tokenizer, prompt, { addSpecialTokens: true })
          : undefined,
      );
    }
    if (prompts.length === 1 && (completion.n ?? 1) === 1) {
      const single = { ...completion, prompt: prompts[0] };
      const prepared = prepareCompletion(single, { ...context, promptTokenIds: promptIds[0] });
      return await serveGeneration(prepared, c.req.raw, deps);
    }
    const id = `cmpl-${crypto.randomUUID().replaceAll("-", "")}`;
    const choices = prepareChoices(completion, prompts, context, prepareCompletion, id, promptIds);
    return await serveChoices(choices, c.req.raw, deps);
  } catch (error) {
    const http = httpErrorFrom(error);
    const code = http.body.error.code;
    metrics.errors.inc({
      model,
      error_type: typeof code === "string" ? code : String(http.status),
    });
    return errorResponse(http);
  }
}
