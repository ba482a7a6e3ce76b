/**
 * Worker readiness in the embedded stack: a worker whose health canary failed
 * (`Worker.ready` false) gets no requests, `/health` reports each instance's readiness,
 * and with no ready worker requests get a clear 503 and `/health` says "unhealthy".
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "../../src/logging/logger.ts";
import { createEmbeddedStack, type EmbeddedStack } from "../../src/serve/mod.ts";
import { waitUntil } from "../fixtures/embedded_worker.ts";
import { factoryOf, ObservedEngine } from "./_helpers.ts";

const JSON_HEADERS = { "content-type": "application/json" };

const quiet = createLogger({ level: "off" });

/** A stack whose workers run `engines` in order, with a fast health canary. */
async function stackOf(engines: ObservedEngine[]): Promise<EmbeddedStack> {
  let next = 0;
  return await createEmbeddedStack({
    engine: { fromArgs: () => factoryOf(engines[next++]).fromArgs([]) },
    workers: engines.length,
    logger: quiet,
    healthCanary: true,
    timings: { canaryWaitMs: 10, canaryTimeoutMs: 2000 },
  });
}

async function get(stack: EmbeddedStack, path: string): Promise<Response> {
  return await stack.frontend.fetch(new Request(`http://local${path}`));
}

async function complete(stack: EmbeddedStack): Promise<Response> {
  return await stack.frontend.fetch(
    new Request("http://local/v1/completions", {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify({ model: "test-model", prompt: "x", max_tokens: 2 }),
    }),
  );
}

describe("worker readiness", () => {
  it("routes around a worker whose canary failed and reports it in /health", async () => {
    // Worker 0 serves; worker 1's engine fails every request, so its canary fails.
    const working = new ObservedEngine();
    const broken = new ObservedEngine({ failAfter: 0 });
    const stack = await stackOf([working, broken]);
    try {
      const [good, bad] = stack.workers;
      await waitUntil(() => !bad.ready, 5000, "worker 1's canary to fail");
      // Canary requests ask for 1 token; the client's ask for 2.
      const routed = (engine: ObservedEngine) =>
        engine.observations.filter((o) => o.request.stop_conditions.max_tokens === 2).length;
      for (let i = 0; i < 4; i++) {
        const res = await complete(stack);
        assert.equal(res.status, 200, await res.clone().text());
      }
      assert.deepEqual([routed(working), routed(broken)], [4, 0]);
      const health = await get(stack, "/health");
      assert.equal(health.status, 200);
      const body = await health.json();
      assert.equal(body.status, "healthy");
      const ready = Object.fromEntries(
        body.instances.map((
          i: { instance_id: string; ready: boolean },
        ) => [i.instance_id, i.ready]),
      );
      assert.deepEqual(ready, { [good.instanceId]: true, [bad.instanceId]: false });
    } finally {
      await stack.shutdown();
    }
  });

  it("answers 503 with a clear body and reports unhealthy when no worker is ready", async () => {
    const stack = await stackOf([new ObservedEngine({ failAfter: 0 })]);
    try {
      await waitUntil(() => !stack.workers[0].ready, 5000, "the canary to fail");
      const res = await complete(stack);
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), {
        error: {
          message: 'Service temporarily unavailable: no worker of model "test-model" is ready',
          type: "service_unavailable",
          param: null,
          code: "no_ready_workers",
        },
      });
      const health = await get(stack, "/health");
      assert.equal(health.status, 503);
      const body = await health.json();
      assert.equal(body.status, "unhealthy");
      assert.equal(body.instances[0].ready, false);
    } finally {
      await stack.shutdown();
    }
  });
});
