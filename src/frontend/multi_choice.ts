/**
 * Requests with several choices, as OpenAI answers them: `n > 1`, and list prompts in
 * `/v1/completions` (one choice per prompt and `n`, index `prompt × n + j`). Each choice is
 * its own generation (routed, streamed, cancelled and counted like a single request);
 * this module prepares them and merges their responses: one SSE stream whose frames carry
 * each choice's index, one usage frame summed over the choices, one `[DONE]`; or one body
 * with every choice in index order and the usage summed. The prompt counts once per
 * prompt, not once per choice.
 *
 * @module
 */
import type { CompletionUsage } from "../engine/generate_chunk.ts";
import { SluiceError } from "../errors/sluice_error.ts";
import type { GenerationDeps, PreparedGeneration } from "./generation_handler.ts";
import { serveGeneration } from "./generation_handler.ts";
import type { ChatCompletionRequest, CompletionRequest } from "./openai_request.ts";
import { MAX_CHOICES } from "./openai_request.ts";
import type { PrepareContext } from "./preprocessor.ts";
import { SseBody } from "./sse_body.ts";

const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};
const DONE_FRAME = "data: [DONE]\n\n";

/** The prompts of a completion request, one per choice group. */
export function completionPrompts(prompt: CompletionRequest["prompt"]): (string | number[])[] {
  if (typeof prompt === "string") return [prompt];
  if (prompt.length > 0 && typeof prompt[0] === "number") return [prompt as number[]];
  return prompt as (string | number[])[];
}

/**
 * Prepares every choice: `prompts × n`, index `i * n + j`. A prompt's token ids come from
 * `promptTokenIds[i]` when given, else its first choice tokenizes it; the others reuse them. With a `seed`, choice `j` of a
 * prompt samples with `seed + j`, so the choices differ but stay reproducible.
 *
 * @throws {SluiceError} `InvalidArgument` (param `n`) beyond {@linkcode MAX_CHOICES}.
 */
export function prepareChoices<R extends ChatCompletionRequest | CompletionRequest>(
  request: R,
  prompts: readonly unknown[],
  context: PrepareContext,
  prepare: (request: R, context: PrepareContext) => PreparedGeneration,
  responseId: string,
  promptTokenIds: readonly (number[] | undefined)[] = [],
): PreparedGeneration[] {
  const n = request.n ?? 1;
  if (prompts.length * n > MAX_CHOICES) {
    throw new SluiceError(
      "InvalidArgument",
      `Invalid request: n: ${prompts.length} prompt(s) × n = ${n} asks for more than ` +
        `${MAX_CHOICES} choices`,
      { param: "n", code: "invalid_request" },
    );
  }
  const created = Math.floor(Date.now() / 1000);
  const out: PreparedGeneration[] = [];
  prompts.forEach((prompt, i) => {
    const single = "prompt" in request ? { ...request, prompt } as R : request;
    let tokenIds: number[] | undefined = promptTokenIds[i];
    for (let j = 0; j < n; j++) {
      const prepared = prepare(single, {
        ...context,
        choice: { index: i * n + j, id: responseId, created },
        promptTokenIds: tokenIds,
      });
      tokenIds ??= prepared.payload.token_ids;
      if (j > 0) prepared.promptTokens = 0; // the prompt counts once per prompt
      const seed = prepared.payload.sampling_options?.seed;
      if (seed !== undefined && j > 0) {
        prepared.payload.sampling_options = {
          ...prepared.payload.sampling_options,
          seed: seed + j,
        };
      }
      out.push(prepared);
    }
  });
  return out;
}

function addUsage(total: CompletionUsage, usage: CompletionUsage | undefined): void {
  if (usage === undefined) return;
  total.prompt_tokens += usage.prompt_tokens ?? 0;
  total.completion_tokens += usage.completion_tokens ?? 0;
  total.total_tokens = total.prompt_tokens + total.completion_tokens;
}

/**
 * Serves several choices as one response. When a choice cannot be placed (its response is
 * not 200), the others are cancelled and that error is the answer. Usage is summed; each
 * choice's own prompt count is already 0 for repeats of a prompt.
 */
export async function serveChoices(
  choices: PreparedGeneration[],
  request: Request,
  deps: GenerationDeps,
): Promise<Response> {
  if (choices.length === 1) return await serveGeneration(choices[0], request, deps);
  const responses = await Promise.all(choices.map((c) => serveGeneration(c, request, deps)));
  const failed = responses.find((r) => !r.ok);
  if (failed !== undefined) {
    await Promise.all(responses.map((r) => r === failed ? undefined : r.body?.cancel()));
    return failed;
  }
  const first = choices[0];
  if (!first.stream) return await mergeBodies(responses);
  return mergeStreams(responses, first);
}

async function mergeBodies(responses: Response[]): Promise<Response> {
  type Body = { choices: { index: number }[]; usage?: CompletionUsage };
  const bodies = await Promise.all(responses.map((r) => r.json() as Promise<Body>));
  const usage: CompletionUsage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  for (const body of bodies) addUsage(usage, body.usage);
  const choices = bodies.flatMap((b) => b.choices).sort((a, b) => a.index - b.index);
  return Response.json({ ...bodies[0], choices, usage });
}

function mergeStreams(responses: Response[], first: PreparedGeneration): Response {
  const readers = responses.map((r) => r.body!.pipeThrough(new TextDecoderStream()).getReader());
  const cancelAll = (reason?: unknown) => {
    for (const reader of readers) reader.cancel(reason).catch(() => {});
  };
  const merged = new SseBody({ onCancel: cancelAll });
  const usage: CompletionUsage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  let failed = false;
  const pump = async (reader: ReadableStreamDefaultReader<string>) => {
    let pending = "";
    while (!failed) {
      const { value, done } = await reader.read();
      if (done) return;
      pending += value;
      let end: number;
      while (!failed && (end = pending.indexOf("\n\n")) >= 0) {
        const frame = pending.slice(0, end + 2);
        pending = pending.slice(end + 2);
        if (frame === DONE_FRAME) continue;
        if (frame.startsWith('data: {"error"')) {
          // One failed choice fails the response: its error frame, then [DONE].
          failed = true;
          merged.push(frame);
          cancelAll();
          return;
        }
        if (frame.includes('"choices":[]')) {
          addUsage(usage, (JSON.parse(frame.slice(6)) as { usage?: CompletionUsage }).usage);
          continue;
        }
        merged.push(frame);
        if (merged.full) await merged.drained();
      }
    }
  };
  Promise.allSettled(readers.map(pump)).then(() => {
    if (!failed && first.includeUsage) {
      merged.push(first.format.usageFrame(usage));
    }
    merged.push(DONE_FRAME);
    merged.close();
  });
  return new Response(merged.readable, { headers: SSE_HEADERS });
}
