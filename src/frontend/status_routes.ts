/**
 * The frontend's operational endpoints: `GET /health` (per-instance readiness),
 * `GET /live`, and `GET /metrics` (Prometheus text).
 *
 * @module
 */
import type { Hono } from "hono";
import type { MetricsRegistry } from "../metrics/metrics_registry.ts";
import type { RoutingTable } from "../router/routing_table.ts";
import type { WorkerRouter } from "../router/worker_router.ts";

/**
 * Mounts the status routes. `/health` MUST answer 200 `healthy` while at least one
 * known instance is ready, else 503 `unhealthy`; `/live` always answers 200.
 */
export function mountStatusRoutes(
  app: Hono,
  table: RoutingTable,
  router: WorkerRouter,
  registry: MetricsRegistry,
): void {
  app.get("/health", (c) => {
    const instances = table.allWorkers().map((w) => ({
      instance_id: w.instanceId,
      namespace: w.record.namespace,
      component: w.record.component,
      endpoint: w.record.endpoint,
      model: w.card.served_model_name,
      inflight: w.inflight,
      ready: router.isReady(w),
    }));
    // Healthy while at least one known instance can take a request.
    const healthy = instances.some((i) => i.ready);
    return c.json(
      { status: healthy ? "healthy" : "unhealthy", models: table.models(), instances },
      healthy ? 200 : 503,
    );
  });
  app.get("/live", (c) => c.json({ status: "live" }));
  app.get("/metrics", () =>
    new Response(registry.render(), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    }));
}
