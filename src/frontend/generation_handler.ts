/**
 * One generation request end to end, after preprocessing: route it to a worker,
 * turn the engine stream into OpenAI SSE frames (or one aggregated body), account
 * for it in metrics, and cancel it end to end when the client goes away (the call's
 * signal fires: the worker fires the engine's signal and calls `abort`).
 *
 * @module
 */
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { GenerateChunk } from "../engine/generate_chunk.ts";
import type { GenerateRequestInput } from "../engine/generate_request.ts";
import { SluiceError, toSluiceError } from "../errors/sluice_error.ts";
import type { Logger } from "../logging/logger.ts";
import { ALL_WORKERS_BUSY, type RoutedStream, type WorkerRouter } from "../router/worker_router.ts";
import type { ChoiceDecoder, OpenAIFinishReason, TokenLogprob } from "./choice_decoder.ts";
import type { FrontendMetrics } from "./frontend_metrics.ts";
import type { InflightGenerations } from "./inflight_generations.ts";
import { errorResponse, httpErrorFrom } from "./openai_error.ts";
import type { ResponseFormat } from "./response_format.ts";
import { SseBody } from "./sse_body.ts";
import { startSpanFrom, traceparentOf } from "../tracing/trace_context.ts";

/** A preprocessed request, ready to route. */
export interface PreparedGeneration {
  model: string;
  endpoint: "chat_completions" | "completions";
  payload: GenerateRequestInput;
  promptTokens: number;
  stream: boolean;
  includeUsage: boolean;
  format: ResponseFormat;
  choice: ChoiceDecoder;
  /** Logprobs were requested (non-streaming bodies then always carry a logprobs object). */
  logprobs: boolean;
  /** `x-worker-instance-id`, for direct routing. */
  instanceId?: string;
  /** W3C trace context of the HTTP request, propagated to the worker. */
  traceparent?: string;
}

/** What {@linkcode serveGeneration} needs. */
export interface GenerationDeps {
  router: WorkerRouter;
  metrics: FrontendMetrics;
  logger?: Logger;
  /** SSE buffer bound (code units); see `SseBody`. */
  sseBufferLimit?: number;
  /** Where the generation registers, so a shutdown past its deadline can cut it. */
  inflight?: InflightGenerations;
}

const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

const DONE_FRAME = "data: [DONE]\n\n";

/** How a generation ended, for metrics. */
type Outcome = "success" | "error" | "cancelled";

/**
 * Routes and serves `prepared`. Resolves with an error response (4xx/5xx OpenAI body) when
 * the request cannot be placed; once a worker accepted it, a streaming request always
 * answers 200 and reports later failures as an `{"error": …}` frame before `[DONE]`.
 */
export async function serveGeneration(
  prepared: PreparedGeneration,
  request: Request,
  deps: GenerationDeps,
): Promise<Response> {
  const { metrics } = deps;
  const started = performance.now();
  const labels = { model: prepared.model };
  // One span per generation request, child of the client's traceparent (if any) and parent of
  // the worker's engine.generate span through the header sent on the request plane.
  const span = startSpanFrom(
    `POST /v1/${prepared.endpoint.replace("_", "/")}`,
    prepared.traceparent,
    {
      kind: SpanKind.SERVER,
      attributes: {
        "gen_ai.request.model": prepared.model,
        "gen_ai.usage.input_tokens": prepared.promptTokens,
        stream: prepared.stream,
      },
    },
  );
  const abort = new AbortController();
  const onClientGone = () => abort.abort(request.signal.reason);
  request.signal.addEventListener("abort", onClientGone, { once: true });
  metrics.inflight.add(labels, 1);
  metrics.inputTokens.observe(labels, prepared.promptTokens);
  // A cut (shutdown deadline) ends the SSE body at once with an error frame and [DONE],
  // even when the worker's stream does not react to its signal.
  const cutTarget: { sse?: SseBody } = {};
  let cutBy: SluiceError | undefined;
  const unregister = deps.inflight?.add((reason) => {
    if (cutBy !== undefined || abort.signal.aborted) return;
    cutBy = reason;
    const sse = cutTarget.sse;
    if (sse !== undefined) {
      sse.push(`data: ${JSON.stringify(httpErrorFrom(reason).body)}\n\n`);
      sse.push(DONE_FRAME);
      sse.close();
    }
    abort.abort(reason);
  });
  let finished = false;
  const finish = (outcome: Outcome, error?: unknown) => {
    if (finished) return;
    finished = true;
    unregister?.();
    request.signal.removeEventListener("abort", onClientGone);
    metrics.inflight.add(labels, -1);
    metrics.duration.observe(labels, (performance.now() - started) / 1000);
    metrics.outputTokens.inc(labels, prepared.choice.completionTokens);
    metrics.requests.inc({
      ...labels,
      endpoint: prepared.endpoint,
      request_type: prepared.stream ? "stream" : "unary",
      status: outcome,
    });
    if (outcome === "cancelled") metrics.disconnects.inc(labels);
    span.setAttribute("gen_ai.usage.output_tokens", prepared.choice.completionTokens);
    if (outcome !== "success") {
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: outcome === "cancelled" ? "client went away" : toSluiceError(error).message,
      });
    }
    span.end();
    if (outcome === "error" && error !== undefined) {
      const typed = toSluiceError(error);
      metrics.errors.inc({ ...labels, error_type: typed.code ?? typed.kind });
      if (typed.code === ALL_WORKERS_BUSY) {
        metrics.rejections.inc({ ...labels, reason: typed.code });
      }
    }
  };
  let routed: RoutedStream;
  try {
    const headers: Record<string, string> = {};
    const traceparent = traceparentOf(span) ?? prepared.traceparent;
    if (traceparent !== undefined) headers.traceparent = traceparent;
    routed = await deps.router.route(prepared.model, prepared.payload, {
      id: prepared.format.id,
      headers,
      signal: abort.signal,
      instanceId: prepared.instanceId,
      tokenIds: prepared.payload.token_ids,
    });
  } catch (error) {
    finish(abort.signal.aborted && cutBy === undefined ? "cancelled" : "error", error);
    return errorResponse(httpErrorFrom(cutBy ?? error));
  }
  const run = new Generation(prepared, routed, metrics, started, abort.signal);
  if (!prepared.stream) {
    try {
      const body = await run.aggregate();
      finish("success");
      return Response.json(body);
    } catch (error) {
      finish(abort.signal.aborted && cutBy === undefined ? "cancelled" : "error", error);
      return errorResponse(httpErrorFrom(cutBy ?? error));
    }
  }
  const sse = cutTarget.sse = new SseBody({
    limit: deps.sseBufferLimit,
    onCancel: (reason) => abort.abort(reason ?? new SluiceError("Cancelled", "client went away")),
  });
  run.stream(sse).then(
    () => finish(abort.signal.aborted ? "cancelled" : "success"),
    (error) =>
      finish(abort.signal.aborted && cutBy === undefined ? "cancelled" : "error", cutBy ?? error),
  );
  return new Response(sse.readable, { headers: SSE_HEADERS });
}

/** The per-request loop over the worker's stream. */
class Generation {
  #prepared: PreparedGeneration;
  #routed: RoutedStream;
  #metrics: FrontendMetrics;
  #labels: { model: string };
  #started: number;
  #signal: AbortSignal;
  #firstToken = 0;
  #lastToken = 0;
  #tokensAfterFirst = 0;
  #finishReason: OpenAIFinishReason | undefined;
  #terminalSeen = false;

  constructor(
    prepared: PreparedGeneration,
    routed: RoutedStream,
    metrics: FrontendMetrics,
    started: number,
    signal: AbortSignal,
  ) {
    this.#prepared = prepared;
    this.#routed = routed;
    this.#metrics = metrics;
    this.#labels = { model: prepared.model };
    this.#started = started;
    this.#signal = signal;
  }

  /** Collects the whole response into one body. */
  async aggregate(): Promise<unknown> {
    const prepared = this.#prepared;
    let text = "";
    const logprobs: TokenLogprob[] | undefined = prepared.logprobs ? [] : undefined;
    const reason = await this.#consume((chunk) => {
      const delta = this.#delta(chunk);
      text += delta.text;
      if (logprobs !== undefined && delta.logprobs !== undefined) logprobs.push(...delta.logprobs);
      return undefined;
    });
    const usage = prepared.choice.usage(prepared.promptTokens);
    return prepared.format.aggregate(text, logprobs, reason, usage);
  }

  /** Streams SSE frames into `body`; ends it with `[DONE]` (after an error frame on failure). */
  async stream(body: SseBody): Promise<void> {
    const prepared = this.#prepared;
    const format = prepared.format;
    try {
      await this.#consume((chunk) => {
        const frame = format.frame(this.#delta(chunk));
        if (frame !== undefined) body.push(frame);
        return body.full ? body.drained() : undefined;
      });
      if (prepared.includeUsage) {
        body.push(format.usageFrame(prepared.choice.usage(prepared.promptTokens)));
      }
      body.push(DONE_FRAME);
    } catch (error) {
      if (!this.#signal.aborted) {
        body.push(`data: ${JSON.stringify(httpErrorFrom(error).body)}\n\n`);
        body.push(DONE_FRAME);
      }
      throw error;
    } finally {
      body.close();
    }
  }

  /**
   * Reads the worker's stream, calling `each` per chunk (awaiting only what it returns,
   * so the common path costs no extra tick); returns the finish reason.
   */
  async #consume(
    each: (chunk: GenerateChunk) => Promise<void> | undefined,
  ): Promise<OpenAIFinishReason> {
    const choice = this.#prepared.choice;
    let failure: unknown;
    try {
      for await (const chunk of this.#routed.stream) {
        if (chunk.token_ids.length > 0) this.#timeTokens(chunk.token_ids.length);
        const pending = each(chunk);
        if (pending !== undefined) await pending;
        if (choice.finished) {
          // A stop string matched before the engine finished: stop it (its signal fires).
          if (!this.#terminalSeen) this.#routed.stream.stop();
          break;
        }
        if (this.#signal.aborted) break;
      }
      if (this.#signal.aborted) {
        throw toSluiceError(
          this.#signal.reason ?? new SluiceError("Cancelled", "client went away"),
        );
      }
      if (!choice.finished) {
        throw new SluiceError(
          "StreamIncomplete",
          "Cannot complete request: the worker's stream ended without a final chunk",
        );
      }
      return this.#finishReason!;
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      this.#observeItl();
      this.#routed.release(failure);
    }
  }

  #delta(chunk: GenerateChunk) {
    if (chunk.finish_reason !== undefined) this.#terminalSeen = true;
    const delta = this.#prepared.choice.push(chunk);
    if (delta.finishReason !== undefined) this.#finishReason = delta.finishReason;
    return delta;
  }

  #timeTokens(count: number): void {
    const now = performance.now();
    if (this.#firstToken === 0) {
      this.#firstToken = now;
      this.#metrics.ttft.observe(this.#labels, (now - this.#started) / 1000);
      this.#tokensAfterFirst = count - 1;
    } else {
      this.#tokensAfterFirst += count;
    }
    this.#lastToken = now;
  }

  /**
   * Observes the request's inter-token latency once, as AIPerf defines it per request:
   * (last token − first token) / (tokens − 1). One observation per request keeps the
   * per-token path free of histogram updates.
   */
  #observeItl(): void {
    if (this.#tokensAfterFirst <= 0) return;
    const itl = (this.#lastToken - this.#firstToken) / 1000 / this.#tokensAfterFirst;
    this.#metrics.itl.observe(this.#labels, itl);
  }
}
