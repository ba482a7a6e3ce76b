/**
 * The frontend's metric families, named after Dynamo's frontend metrics with a
 * `sluice_frontend_` prefix: requests, in-flight, TTFT, ITL, duration, token
 * counts, errors by type, admission rejections and client disconnects.
 *
 * @module
 */
import { type MetricsRegistry, TOKEN_LATENCY_BUCKETS } from "../metrics/metrics_registry.ts";

const TOKEN_COUNT_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536];

/** Creates (or reuses) the frontend metric families in `registry`. */
export function createFrontendMetrics(registry: MetricsRegistry) {
  const p = "sluice_frontend_";
  return {
    requests: registry.counter(
      `${p}requests_total`,
      "HTTP generation requests, by model, endpoint, request_type (stream|unary) and status.",
    ),
    inflight: registry.gauge(`${p}inflight_requests`, "Generation requests in flight."),
    ttft: registry.histogram(
      `${p}time_to_first_token_seconds`,
      "Time from request arrival to the first generated token.",
      TOKEN_LATENCY_BUCKETS,
    ),
    itl: registry.histogram(
      `${p}inter_token_latency_seconds`,
      "Inter-token latency per request: (last token - first token) / (tokens - 1).",
      TOKEN_LATENCY_BUCKETS,
    ),
    duration: registry.histogram(
      `${p}request_duration_seconds`,
      "Time from request arrival to the end of the response.",
    ),
    inputTokens: registry.histogram(
      `${p}input_sequence_tokens`,
      "Prompt length in tokens.",
      TOKEN_COUNT_BUCKETS,
    ),
    outputTokens: registry.counter(`${p}output_tokens_total`, "Tokens generated."),
    errors: registry.counter(
      `${p}errors_total`,
      "Requests that failed, by error_type (the error kind or code).",
    ),
    rejections: registry.counter(
      `${p}rejected_requests_total`,
      "Requests refused by admission, by reason.",
    ),
    disconnects: registry.counter(
      `${p}client_disconnects_total`,
      "Requests whose client went away before the response ended.",
    ),
    migrations: registry.counter(
      `${p}model_migration_total`,
      "Streams that broke off and were resent to another worker (--migration-limit).",
    ),
  };
}

/** The metric handles of one frontend. */
export type FrontendMetrics = ReturnType<typeof createFrontendMetrics>;
