/**
 * Engine stats wiring: copies an engine's optional `stats()` snapshot (KV usage,
 * waiting and running requests, KV cache hit rate) into the worker's gauges each
 * time the metrics registry renders.
 *
 * @module
 */
import type { LLMEngine } from "../engine/engine.ts";
import type { MetricsRegistry } from "../metrics/metrics_registry.ts";
import type { EndpointLabels, WorkerMetrics } from "./worker_metrics.ts";

/**
 * Registers a collector that reads `engine.stats()` into `metrics` under `labels`.
 * Returns the function that removes it; a no-op when the engine has no `stats`.
 * Fields the engine leaves undefined MUST NOT touch their gauge.
 */
export function collectEngineStats(
  registry: MetricsRegistry,
  engine: LLMEngine,
  metrics: WorkerMetrics,
  labels: EndpointLabels,
): () => void {
  if (engine.stats === undefined) return () => {};
  return registry.addCollector(() => {
    const s = engine.stats!();
    if (s.kv_usage !== undefined) metrics.kvUsage.set(labels, s.kv_usage * 100);
    if (s.waiting_requests !== undefined) {
      metrics.waiting.set(labels, s.waiting_requests);
    }
    if (s.running_requests !== undefined) {
      metrics.running.set(labels, s.running_requests);
    }
    if (s.kv_cache_hit_rate !== undefined) {
      metrics.kvHitRate.set(labels, s.kv_cache_hit_rate);
    }
  });
}
