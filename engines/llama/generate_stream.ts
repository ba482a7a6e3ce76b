/**
 * The llama engine's generate loop: queues one sequence on the scheduler and turns the events
 * it hands over into {@link GenerateChunk}s (tokens, logprobs, finish reason, stop id and
 * usage with cached prompt tokens), ending with `"cancelled"` when the request is stopped.
 *
 * @module
 */
import { type GenerateChunk, makeUsage } from "../../src/engine/generate_chunk.ts";
import type { GenerateRequest } from "../../src/engine/generate_request.ts";
import type { RequestContext } from "../../src/engine/request_context.ts";
import type { Scheduler } from "./scheduler.ts";
import type { Sequence } from "./sequence.ts";

/**
 * Streams `seq` (built from `request`) through `scheduler`. The sequence MUST be removed from
 * the scheduler (its blocks freed) when the stream ends, however it ends, and at once when
 * `context.signal` aborts.
 */
export async function* streamSequence(
  scheduler: Scheduler,
  seq: Sequence,
  request: GenerateRequest,
  context: RequestContext,
): AsyncGenerator<GenerateChunk> {
  const prompt = request.token_ids.length;
  const usage = (n: number) => ({
    ...makeUsage(prompt, n),
    ...(seq.cachedTokens ? { prompt_tokens_details: { cached_tokens: seq.cachedTokens } } : {}),
  });
  const onAbort = () => scheduler.remove(seq);
  context.signal.addEventListener("abort", onAbort, { once: true });
  try {
    if (context.isStopped()) {
      yield { token_ids: [], index: 0, finish_reason: "cancelled", completion_usage: usage(0) };
      return;
    }
    scheduler.add(seq);
    let sent = 0, cum = 0;
    const wantLogprobs = request.output_options.logprobs !== undefined;
    // Bounded: each round either yields tokens, ends, or returns on cancellation.
    while (true) {
      const events = await seq.take(context.signal);
      if (context.isStopped()) {
        scheduler.remove(seq);
        yield {
          token_ids: [],
          index: 0,
          finish_reason: "cancelled",
          completion_usage: usage(sent),
        };
        return;
      }
      const chunk: GenerateChunk = { token_ids: [], index: 0 };
      for (const e of events) {
        if (e.kind === "error") throw e.error;
        if (e.kind === "token") {
          chunk.token_ids.push(e.token);
          if (wantLogprobs) {
            (chunk.log_probs ??= []).push(e.logprob!);
            (chunk.top_logprobs ??= []).push(e.top!);
            cum += e.logprob!;
            chunk.cum_log_probs = cum;
          }
        } else {
          sent += chunk.token_ids.length;
          chunk.finish_reason = e.reason;
          if (e.stopToken !== undefined && e.reason === "stop") chunk.stop_reason = e.stopToken;
          chunk.completion_usage = usage(sent);
          yield chunk;
          return;
        }
      }
      sent += chunk.token_ids.length;
      if (chunk.token_ids.length) yield chunk;
    }
  } finally {
    context.signal.removeEventListener("abort", onAbort);
    scheduler.remove(seq);
  }
}
