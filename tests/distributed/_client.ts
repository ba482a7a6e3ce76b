/**
 * The client side of the distributed tests: streaming `/v1/completions` requests with token
 * id prompts to the counting engine, and what a stream must contain. The counting engine
 * continues the prompt's last token (`last + 1, last + 2, …`); prompts start in the default
 * (Qwen3) tokenizer's ids 1040..1199, each an ASCII piece, so the exact token sequence is
 * visible in the text: a duplicated or missing token changes it.
 */
import { loadDefaultTokenizer } from "../../src/tokenizer/default_tokenizer.ts";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.ts";

/** The first prompt token the tests use; prompts stay below 1200 with their outputs. */
export const FIRST_TOKEN = 1040;

let tokenizer: Promise<Tokenizer> | undefined;

/** The text the counting engine's output after prompt `[start]` decodes to. */
export async function expectedText(start: number, maxTokens: number): Promise<string> {
  tokenizer ??= loadDefaultTokenizer();
  const ids = Array.from({ length: maxTokens }, (_, i) => start + 1 + i);
  if (ids.at(-1)! >= 1200) throw new Error(`prompt ${start} + ${maxTokens} leaves the ASCII range`);
  return (await tokenizer).decode(ids);
}

/** What one streamed completion produced. */
export interface StreamResult {
  /** HTTP status. */
  status: number;
  /** Concatenated `choices[0].text`. */
  text: string;
  /** Content chunks seen. */
  chunks: number;
  /** The `usage` of the final frame (`stream_options.include_usage`). */
  usage?: { prompt_tokens: number; completion_tokens: number };
  finishReason?: string;
  /** An `{"error": …}` frame, or the JSON body of a non-200 response. */
  error?: { message?: string; type?: string; code?: unknown };
  /** `[DONE]` arrived. */
  done: boolean;
  /** The request threw (connection refused, reset, aborted). */
  thrown?: string;
  /** ms from sending to the end of the response. */
  ms: number;
}

/** Options of {@linkcode streamCompletion}. */
export interface StreamOptions {
  model?: string;
  /** Aborts the request (a client disconnect). */
  signal?: AbortSignal;
  /** Called with the text so far after each content chunk. */
  onChunk?(text: string, chunks: number): void;
  headers?: Record<string, string>;
}

/**
 * POSTs a streaming completion of prompt `[start]` for `maxTokens` tokens and reads it to the
 * end. Never throws: a failure is in the result.
 */
export async function streamCompletion(
  url: string,
  start: number,
  maxTokens: number,
  options: StreamOptions = {},
): Promise<StreamResult> {
  const t0 = performance.now();
  const result: StreamResult = { status: 0, text: "", chunks: 0, done: false, ms: 0 };
  try {
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...options.headers },
      signal: options.signal,
      body: JSON.stringify({
        model: options.model ?? "counting",
        prompt: [start],
        max_tokens: maxTokens,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    result.status = res.status;
    if (res.status !== 200) {
      const body = await res.json().catch(() => ({})) as { error?: StreamResult["error"] };
      result.error = body.error ?? { message: `HTTP ${res.status}` };
      return result;
    }
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += value;
      const frames = pending.split("\n\n");
      pending = frames.pop()!;
      for (const frame of frames) {
        const data = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) =>
          l.slice(5).trim()
        ).join("\n");
        if (data === "") continue;
        if (data === "[DONE]") {
          result.done = true;
          continue;
        }
        const json = JSON.parse(data) as {
          error?: StreamResult["error"];
          choices?: { text?: string; finish_reason?: string | null }[];
          usage?: StreamResult["usage"];
        };
        if (json.error) result.error = json.error;
        const choice = json.choices?.[0];
        if (choice?.text) {
          result.text += choice.text;
          result.chunks++;
          options.onChunk?.(result.text, result.chunks);
        }
        if (choice?.finish_reason) result.finishReason = choice.finish_reason;
        if (json.usage) result.usage = json.usage;
      }
    }
  } catch (error) {
    result.thrown = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } finally {
    result.ms = performance.now() - t0;
  }
  return result;
}

/** Why `result` is not the complete, exact stream of prompt `[start]` (empty when it is). */
export async function streamProblems(
  result: StreamResult,
  start: number,
  maxTokens: number,
): Promise<string[]> {
  const problems: string[] = [];
  if (result.status !== 200) problems.push(`status ${result.status}`);
  if (result.thrown) problems.push(`threw ${result.thrown}`);
  if (result.error) problems.push(`error frame ${JSON.stringify(result.error)}`);
  if (!result.done) problems.push("no [DONE]");
  const expected = await expectedText(start, maxTokens);
  if (result.text !== expected) {
    problems.push(`text ${JSON.stringify(result.text)} != ${JSON.stringify(expected)}`);
  }
  if (result.usage?.prompt_tokens !== 1 || result.usage?.completion_tokens !== maxTokens) {
    problems.push(`usage ${JSON.stringify(result.usage)}`);
  }
  if (result.finishReason !== "length") problems.push(`finish ${result.finishReason}`);
  return problems;
}
