/**
 * The response shapes of both endpoints, behind one interface: SSE frames for
 * streaming (`chat.completion.chunk`, `text_completion`) and the aggregated body for
 * non-streaming requests. Chunk JSON is assembled from a per-request prefix and the
 * variable parts (text through the {@linkcode jsonString} fast path), because it runs
 * once per token.
 *
 * @module
 */
import type { CompletionUsage } from "../engine/generate_chunk.ts";
import type { ChoiceDelta, OpenAIFinishReason, TokenLogprob } from "./choice_decoder.ts";

/** Formats one request's output. */
export interface ResponseFormat {
  /** The request id (`chatcmpl-…` / `cmpl-…`). */
  readonly id: string;
  /** The SSE frame for a delta, or `undefined` when it carries nothing to send. */
  frame(delta: ChoiceDelta): string | undefined;
  /** The usage frame (`choices: []`) sent before `[DONE]` when `include_usage` is set. */
  usageFrame(usage: CompletionUsage): string;
  /** The non-streaming body. */
  aggregate(
    text: string,
    logprobs: TokenLogprob[] | undefined,
    finishReason: OpenAIFinishReason,
    usage: CompletionUsage,
  ): unknown;
}

/** Options shared by both formats. */
export interface ResponseFormatOptions {
  model: string;
  /** Add `"usage": null` to every chunk (OpenAI does when `include_usage` is set). */
  includeUsage?: boolean;
  /** The choice's `index` (default 0): one request with several choices shares `id`. */
  index?: number;
  /** The response id to use (default a new one). */
  id?: string;
  /** The `created` time to use (default now). */
  created?: number;
}

const encoder = new TextEncoder();
// Control characters are exactly what JSON must escape, so the class names them.
// deno-lint-ignore no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

/**
 * `JSON.stringify` for a string, with a fast path for text that needs no escaping (most
 * streamed tokens): it runs once per token. Lone surrogates cannot occur here (the text
 * comes from a UTF-8 decoder), so quoting is all that is left to do.
 */
export function jsonString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

function bytesOf(text: string): number[] {
  return Array.from(encoder.encode(text));
}

/** Chat logprobs in OpenAI's shape. */
export function chatLogprobs(entries: TokenLogprob[]) {
  return {
    content: entries.map((e) => ({
      token: e.token,
      logprob: e.logprob,
      bytes: e.bytes ?? bytesOf(e.token),
      top_logprobs: e.top.map((t) => ({
        token: t.token,
        logprob: t.logprob,
        bytes: t.bytes ?? bytesOf(t.token),
      })),
    })),
    refusal: null,
  };
}

function created(): number {
  return Math.floor(Date.now() / 1000);
}

/** The `/v1/chat/completions` format. */
export function chatCompletionFormat(options: ResponseFormatOptions): ResponseFormat {
  const id = options.id ?? `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`;
  const time = options.created ?? created();
  const index = options.index ?? 0;
  const head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${time},"model":${
    JSON.stringify(options.model)
  },"choices":[{"index":${index},"delta":`;
  const tail = options.includeUsage ? `}],"usage":null}\n\n` : `}]}\n\n`;
  let first = true;
  return {
    id,
    frame(delta) {
      const hasLogprobs = delta.logprobs !== undefined && delta.logprobs.length > 0;
      if (!first && delta.text === "" && !hasLogprobs && delta.finishReason === undefined) {
        return undefined;
      }
      let body: string;
      if (first) body = `{"role":"assistant","content":${jsonString(delta.text)}}`;
      else if (delta.text === "" && !hasLogprobs) body = "{}";
      else body = `{"content":${jsonString(delta.text)}}`;
      first = false;
      const logprobs = hasLogprobs ? JSON.stringify(chatLogprobs(delta.logprobs!)) : "null";
      const finish = delta.finishReason === undefined ? "null" : `"${delta.finishReason}"`;
      return `${head}${body},"logprobs":${logprobs},"finish_reason":${finish}${tail}`;
    },
    usageFrame: (usage) => usageFrame(id, "chat.completion.chunk", time, options.model, usage),
    aggregate(text, logprobs, finishReason, usage) {
      return {
        id,
        object: "chat.completion",
        created: time,
        model: options.model,
        choices: [{
          index,
          message: { role: "assistant", content: text },
          logprobs: logprobs === undefined ? null : chatLogprobs(logprobs),
          finish_reason: finishReason,
        }],
        usage,
      };
    },
  };
}

/** The `include_usage` frame: empty `choices`, the request's usage. */
function usageFrame(
  id: string,
  object: string,
  created: number,
  model: string,
  usage: unknown,
): string {
  return `data: ${JSON.stringify({ id, object, created, model, choices: [], usage })}\n\n`;
}

/** Completions logprobs in OpenAI's (legacy) shape; `offset` is where the text starts. */
export function completionLogprobs(entries: TokenLogprob[], offset: number) {
  const text_offset: number[] = [];
  let at = offset;
  for (const e of entries) {
    text_offset.push(at);
    at += e.token.length;
  }
  return {
    tokens: entries.map((e) => e.token),
    token_logprobs: entries.map((e) => e.logprob),
    top_logprobs: entries.map((e) => Object.fromEntries(e.top.map((t) => [t.token, t.logprob]))),
    text_offset,
  };
}

/** The `/v1/completions` format. */
export function completionFormat(options: ResponseFormatOptions): ResponseFormat {
  const id = options.id ?? `cmpl-${crypto.randomUUID().replaceAll("-", "")}`;
  const time = options.created ?? created();
  const index = options.index ?? 0;
  const head = `data: {"id":"${id}","object":"text_completion","created":${time},"model":${
    JSON.stringify(options.model)
  },"choices":[{"index":${index},"text":`;
  const tail = options.includeUsage ? `}],"usage":null}\n\n` : `}]}\n\n`;
  let offset = 0;
  return {
    id,
    frame(delta) {
      const hasLogprobs = delta.logprobs !== undefined && delta.logprobs.length > 0;
      if (delta.text === "" && !hasLogprobs && delta.finishReason === undefined) return undefined;
      let logprobs = "null";
      if (hasLogprobs) {
        const entries = delta.logprobs!;
        logprobs = JSON.stringify(completionLogprobs(entries, offset));
        for (const e of entries) offset += e.token.length;
      }
      const finish = delta.finishReason === undefined ? "null" : `"${delta.finishReason}"`;
      return `${head}${
        jsonString(delta.text)
      },"logprobs":${logprobs},"finish_reason":${finish}${tail}`;
    },
    usageFrame: (usage) => usageFrame(id, "text_completion", time, options.model, usage),
    aggregate(text, logprobs, finishReason, usage) {
      return {
        id,
        object: "text_completion",
        created: time,
        model: options.model,
        choices: [{
          index,
          text,
          logprobs: logprobs === undefined ? null : completionLogprobs(logprobs, 0),
          finish_reason: finishReason,
        }],
        usage,
      };
    },
  };
}
