/**
 * The worker's metric families (lifecycle timings and per-endpoint request
 * metrics), named after Dynamo's with a `sluice_worker_` prefix.
 *
 * @module
 */
import {
  type Labels,
  type MetricsRegistry,
  TOKEN_LATENCY_BUCKETS,
} from "../metrics/metrics_registry.ts";

/** A counter handle from {@linkcode MetricsRegistry.counter}. */
type Counter = ReturnType<MetricsRegistry["counter"]>;
/** A gauge handle from {@linkcode MetricsRegistry.gauge}. */
type Gauge = ReturnType<MetricsRegistry["gauge"]>;
/** A histogram handle from {@linkcode MetricsRegistry.histogram}. */
type Histogram = ReturnType<MetricsRegistry["histogram"]>;

/** The metric handles of one worker; metric names carry the `sluice_worker_` prefix. */
export interface WorkerMetrics {
  /** `model_load_time_seconds`: duration of engine `start()`. */
  modelLoadTime: Gauge;
  /** `drain_time_seconds`: duration of engine `drain()`. */
  drainTime: Gauge;
  /** `cleanup_time_seconds`: duration of engine `cleanup()`. */
  cleanupTime: Gauge;
  /** `requests_total`: requests accepted by the endpoint. */
  requests: Counter;
  /** `rejected_requests_total`: requests refused before streaming, by reason. */
  rejected: Counter;
  /** `inflight_requests`: requests being generated. */
  inflight: Gauge;
  /** `request_duration_seconds`: time from accept to the end of the engine stream. */
  duration: Histogram;
  /** `time_to_first_response_seconds`: time from accept to the first token-carrying chunk. */
  ttft: Histogram;
  /** `inter_token_latency_seconds`: gap between consecutive token-carrying chunks. */
  itl: Histogram;
  /** `output_tokens_total`: tokens generated. */
  outputTokens: Counter;
  /** `errors_total`: requests that ended with an error, by type. */
  errors: Counter;
  /** `cancellation_total`: requests the caller cancelled, by reason. */
  cancellations: Counter;
  /** `health_ready`: 1 when the last health canary succeeded. */
  healthy: Gauge;
  /** `kv_total_blocks`: KV cache blocks the engine advertised at start. */
  kvTotalBlocks: Gauge;
  /** `health_checks_total`: health canaries sent, by result. */
  canaries: Counter;
  /** `gpu_cache_usage_percent`: KV cache in use (engine `stats()`), 0 to 100. */
  kvUsage: Gauge;
  /** `num_requests_waiting`: requests queued inside the engine. */
  waiting: Gauge;
  /** `num_requests_running`: requests the engine is generating. */
  running: Gauge;
  /** `kv_cache_hit_rate`: prompt tokens served from the prefix cache, 0 to 1. */
  kvHitRate: Gauge;
}

/** Creates (or reuses) the worker metric families in `registry`. */
export function createWorkerMetrics(registry: MetricsRegistry): WorkerMetrics {
  const p = "sluice_worker_";
  return {
    modelLoadTime: registry.gauge(`${p}model_load_time_seconds`, "Duration of engine start()."),
    drainTime: registry.gauge(`${p}drain_time_seconds`, "Duration of engine drain()."),
    cleanupTime: registry.gauge(`${p}cleanup_time_seconds`, "Duration of engine cleanup()."),
    requests: registry.counter(`${p}requests_total`, "Requests accepted by the endpoint."),
    rejected: registry.counter(
      `${p}rejected_requests_total`,
      "Requests refused before streaming, by reason.",
    ),
    inflight: registry.gauge(`${p}inflight_requests`, "Requests being generated."),
    duration: registry.histogram(
      `${p}request_duration_seconds`,
      "Time from accept to the end of the engine stream.",
    ),
    ttft: registry.histogram(
      `${p}time_to_first_response_seconds`,
      "Time from accept to the first chunk carrying tokens.",
      TOKEN_LATENCY_BUCKETS,
    ),
    itl: registry.histogram(
      `${p}inter_token_latency_seconds`,
      "Gap between consecutive token-carrying chunks.",
      TOKEN_LATENCY_BUCKETS,
    ),
    outputTokens: registry.counter(`${p}output_tokens_total`, "Tokens generated."),
    errors: registry.counter(`${p}errors_total`, "Requests that ended with an error, by type."),
    cancellations: registry.counter(
      `${p}cancellation_total`,
      "Requests the caller cancelled, by reason (stop, kill, disconnect).",
    ),
    healthy: registry.gauge(`${p}health_ready`, "1 when the last health canary succeeded."),
    kvTotalBlocks: registry.gauge(
      `${p}kv_total_blocks`,
      "KV cache blocks the engine advertised at start (total_kv_blocks).",
    ),
    canaries: registry.counter(`${p}health_checks_total`, "Health canaries sent, by result."),
    kvUsage: registry.gauge(`${p}gpu_cache_usage_percent`, "KV cache in use, percent."),
    waiting: registry.gauge(`${p}num_requests_waiting`, "Requests queued inside the engine."),
    running: registry.gauge(`${p}num_requests_running`, "Requests the engine is generating."),
    kvHitRate: registry.gauge(
      `${p}kv_cache_hit_rate`,
      "Prompt tokens served from the prefix cache over all prompt tokens.",
    ),
  };
}

/** Labels shared by every per-endpoint series. */
export type EndpointLabels = Labels & {
  namespace: string;
  component: string;
  endpoint: string;
  worker_id: string;
  model: string;
};
