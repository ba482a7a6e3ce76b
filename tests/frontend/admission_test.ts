/**
 * Admission across frontends: two frontends share one worker that limits its own
 * in-flight requests (`max_inflight_requests`). The second frontend does not see the
 * first one's requests, so the worker refuses with `worker_overloaded`; the client must
 * still get Dynamo's exact all-busy body, and the refusal is counted.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryDiscovery, MemoryDiscoveryStore } from "../../src/discovery/memory_discovery.ts";
import { createFrontend } from "../../src/frontend/mod.ts";
import { createLogger } from "../../src/logging/logger.ts";
import { MetricsRegistry } from "../../src/metrics/metrics_registry.ts";
import { InProcessRequestPlane } from "../../src/request_plane/in_process_request_plane.ts";
import { createWorker } from "../../src/worker/worker.ts";
import { waitUntil } from "../fixtures/embedded_worker.ts";
import { ObservedEngine } from "./_helpers.ts";

const JSON_HEADERS = { "content-type": "application/json" };

const quiet = createLogger({ level: "error" });
const BUSY_BODY =
  '{"error":{"message":"Service temporarily unavailable: all workers are busy","type":"service_unavailable","code":503}}';

describe("admission across frontends", () => {
  it("answers the all-busy body when the shared worker refuses as overloaded", async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const engine = new ObservedEngine({ gate: () => gate });
    const store = new MemoryDiscoveryStore();
    const requestPlane = new InProcessRequestPlane();
    const worker = createWorker({
      engine,
      config: { model_name: "test-model", max_inflight_requests: 1 },
      discovery: new MemoryDiscovery({ store }),
      requestPlane,
      logger: quiet,
      healthCanary: false,
      timings: { gracePeriodMs: 0 },
    });
    await worker.start();
    const registry = new MetricsRegistry();
    const [a, b] = await Promise.all([
      createFrontend({ discovery: new MemoryDiscovery({ store }), requestPlane, logger: quiet }),
      createFrontend({
        discovery: new MemoryDiscovery({ store }),
        requestPlane,
        logger: quiet,
        metrics: registry,
      }),
    ]);
    const post = (frontend: typeof a) =>
      Promise.resolve(frontend.fetch(
        new Request("http://local/v1/chat/completions", {
          method: "POST",
          headers: JSON_HEADERS,
          body: JSON.stringify({
            model: "test-model",
            messages: [{ role: "user", content: "hi" }],
            max_tokens: 2,
          }),
        }),
      ));
    try {
      const first = post(a);
      await waitUntil(() => worker.inflight === 1, 2000, "frontend A's request on the worker");
      const refused = await post(b);
      assert.equal(refused.status, 503);
      assert.equal(await refused.text(), BUSY_BODY);
      assert.match(
        registry.render(),
        /sluice_frontend_rejected_requests_total\{model="test-model",reason="all_workers_busy"\} 1/,
      );
      open();
      assert.equal((await first).status, 200);
      assert.equal((await post(b)).status, 200, "the worker admits again once it is free");
    } finally {
      open();
      await worker.shutdown();
      await Promise.all([a.close(), b.close()]);
      await requestPlane.close();
    }
  });
});
