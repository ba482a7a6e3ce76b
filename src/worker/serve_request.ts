/**
 * One request through a worker: validate, admit, build the context, start the
 * engine stream, monitor cancellation, account, and trace.
 *
 * @module
 */
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { SluiceError } from "../errors/sluice_error.ts";
import type { LLMEngine } from "../engine/engine.ts";
import type { EngineConfig } from "../engine/engine_config.ts";
import type { GenerateChunk } from "../engine/generate_chunk.ts";
import { parseGenerateRequest } from "../engine/generate_request.ts";
import { createRequestContext } from "../engine/request_context.ts";
import type { Logger } from "../logging/logger.ts";
import type { IncomingRequest } from "../request_plane/request_plane.ts";
import { engineStream } from "../stream/engine_stream.ts";
import { startSpanFrom } from "../tracing/trace_context.ts";
import type { InflightTracker } from "./inflight_tracker.ts";
import type { EndpointLabels, WorkerMetrics } from "./worker_metrics.ts";

/** What a worker hands to {@linkcode serveRequest}. */
export interface ServeRequestDeps {
  engine: LLMEngine;
  engineConfig: EngineConfig;
  logger: Logger;
  metrics: WorkerMetrics;
  labels: EndpointLabels;
  inflight: InflightTracker;
  /** Returns the refusal for a new request, or undefined to admit it. */
  admission(): SluiceError | undefined;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Serves one incoming request. Rejects (before any stream exists) with
 * `InvalidArgument` for a bad payload or the admission refusal; otherwise
 * resolves with the guarded engine stream.
 */
export function serveRequest(
  incoming: IncomingRequest,
  deps: ServeRequestDeps,
): Promise<ReadableStream<GenerateChunk>> {
  const { engine, logger, metrics, labels } = deps;
  const refusal = deps.admission();
  if (refusal) {
    metrics.rejected.inc({ ...labels, reason: refusal.code ?? refusal.kind });
    return Promise.reject(refusal);
  }
  let request;
  try {
    request = parseGenerateRequest(incoming.payload);
    const limit = deps.engineConfig.context_length;
    if (limit !== undefined && request.token_ids.length > limit) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot accept request: prompt has ${request.token_ids.length} tokens, more than the context length ${limit}`,
        { param: "token_ids", code: "context_length_exceeded" },
      );
    }
  } catch (error) {
    metrics.rejected.inc({ ...labels, reason: "invalid_argument" });
    return Promise.reject(error);
  }
  const traceparent = incoming.headers.traceparent;
  const span = startSpanFrom("engine.generate", traceparent, {
    kind: SpanKind.SERVER,
    attributes: { model: labels.model, input_tokens: request.token_ids.length },
  });
  const { context, cancel } = createRequestContext({
    id: incoming.id,
    metadata: { ...incoming.headers },
    traceparent,
  });
  const done = deps.inflight.begin();
  // Health canaries are served like any request but kept out of the request metrics.
  const accounted = request._HEALTH_CHECK !== true;
  if (accounted) {
    metrics.requests.inc(labels);
    metrics.inflight.add(labels, 1);
  }
  const started = performance.now();
  const onCancel = () => {
    const code = (incoming.signal.reason as SluiceError | undefined)?.code;
    if (!cancel(code === "stop" ? "stop" : "kill")) return;
    if (accounted) metrics.cancellations.inc({ ...labels, reason: code ?? "kill" });
    if (engine.abort === undefined) return;
    Promise.resolve().then(() => engine.abort!(context)).catch((error) => {
      logger.warn("engine abort() failed", { request_id: context.id, error: String(error) });
    });
  };
  if (incoming.signal.aborted) onCancel();
  else incoming.signal.addEventListener("abort", onCancel, { once: true });
  let source: AsyncIterable<GenerateChunk>;
  try {
    source = engine.generate(request, context);
  } catch (error) {
    source = {
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }),
    };
  }
  // Per-token ITL goes straight into the histogram; the gaps are kept only for a span
  // that an OpenTelemetry SDK is recording (for its percentiles).
  const gaps: number[] | undefined = span.isRecording() ? [] : undefined;
  const stream = engineStream(source, {
    promptTokens: request.token_ids.length,
    onGap: accounted
      ? (ms) => {
        metrics.itl.observe(labels, ms / 1000);
        gaps?.push(ms);
      }
      : undefined,
    onEnd(end, stats) {
      incoming.signal.removeEventListener("abort", onCancel);
      if (accounted) {
        metrics.inflight.add(labels, -1);
        metrics.duration.observe(labels, (performance.now() - started) / 1000);
        if (stats.ttftMs !== undefined) metrics.ttft.observe(labels, stats.ttftMs / 1000);
        metrics.outputTokens.inc(labels, stats.completionTokens);
      }
      for (const v of stats.violations) {
        logger.warn("engine broke the stream contract", { request_id: context.id, violation: v });
      }
      if (gaps !== undefined) {
        gaps.sort((a, b) => a - b);
        span.setAttributes({
          output_tokens: stats.completionTokens,
          ttft_ms: stats.ttftMs ?? -1,
          finish_reason: typeof stats.finishReason === "object"
            ? "error"
            : stats.finishReason ?? end.kind,
          cancelled: stats.finishReason === "cancelled" || context.isStopped(),
          itl_p50_ms: percentile(gaps, 0.5),
          itl_p90_ms: percentile(gaps, 0.9),
          itl_p99_ms: percentile(gaps, 0.99),
        });
      }
      if (end.kind === "error") {
        if (accounted) metrics.errors.inc({ ...labels, error_type: end.error.kind });
        span.setStatus({ code: SpanStatusCode.ERROR, message: end.error.message });
        logger.debug("request failed", { request_id: context.id, error: end.error.message });
      }
      span.end();
      logger.debug("request ended", {
        request_id: context.id,
        tokens: stats.completionTokens,
        end: end.kind,
      });
      done();
    },
  });
  return Promise.resolve(stream);
}
