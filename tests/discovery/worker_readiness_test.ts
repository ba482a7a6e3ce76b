/**
 * The worker publishes its health canary verdict through discovery (`ready` in its
 * instance record), and a routing table in another "process" (another discovery
 * handle) stops and resumes routing to it. Once over memory, once over real etcd.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLogger, createWorker } from "../../src/entries/serve.ts";
import {
  type Discovery,
  InProcessRequestPlane,
  MemoryDiscovery,
  MemoryDiscoveryStore,
} from "../../src/entries/planes.ts";
import type { GenerateChunk, GenerateRequest, RequestContext } from "../../mod.ts";
import { SampleEngine } from "../../engines/sample/mod.ts";
import { RoutingTable } from "../../src/router/routing_table.ts";
import { WorkerRouter } from "../../src/router/worker_router.ts";
import { EtcdDiscovery } from "../../src/discovery/etcd_discovery.ts";
import { type EtcdServer, startEtcd } from "../support/etcd_server.ts";

/** An engine whose health canary fails while `sick` is set. */
class FlakyEngine extends SampleEngine {
  sick = false;
  constructor() {
    super({ delayMs: 0 });
  }
  override async *generate(
    req: GenerateRequest,
    ctx: RequestContext,
  ): AsyncGenerator<GenerateChunk> {
    if (req._HEALTH_CHECK && this.sick) throw new Error("GPU fell off the bus");
    yield* super.generate(req, ctx);
  }
}

async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 10000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function readinessRoundTrip(workerSide: Discovery, frontendSide: Discovery) {
  const engine = new FlakyEngine();
  const plane = new InProcessRequestPlane();
  const worker = createWorker({
    engine,
    config: { model_name: "test-model" },
    discovery: workerSide,
    requestPlane: plane,
    logger: createLogger({ level: "off" }),
    timings: { gracePeriodMs: 0, shutdownTimeoutMs: 5000, canaryWaitMs: 20, canaryTimeoutMs: 500 },
    healthCanary: true,
  });
  await worker.start();
  const table = await RoutingTable.open(frontendSide);
  // No `isReady` predicate: the frontend knows readiness only from what discovery says.
  const router = new WorkerRouter({ table, requestPlane: plane });
  const model = "sample-model";
  const request = { token_ids: [1], model, stop_conditions: { max_tokens: 2 } };
  const routeOnce = async () => {
    const routed = await router.route(model, request);
    try {
      for await (const _ of routed.stream) { /* drain */ }
    } finally {
      routed.release();
    }
    return routed.instanceId;
  };
  try {
    await eventually("the worker known", () => table.workers(model).length === 1);
    const slot = table.workers(model)[0];
    assert.equal(router.isReady(slot), true);
    assert.equal(await routeOnce(), worker.instanceId);

    engine.sick = true;
    await eventually("the worker not ready", () => !router.isReady(table.workers(model)[0]));
    assert.equal(worker.ready, false);
    const [sick] = await frontendSide.list<{ ready?: boolean }>("v1/instances/");
    assert.equal(sick.value.ready, false, "the record stays, marked not ready");
    await assert.rejects(
      router.route(model, request),
      (e: unknown) => (e as { code?: string }).code === "no_ready_workers",
    );

    engine.sick = false;
    await eventually("the worker ready again", () => router.isReady(table.workers(model)[0]));
    assert.equal(table.workers(model)[0], slot, "the same slot (its counters) throughout");
    assert.equal(await routeOnce(), worker.instanceId);

    // Shutdown removes it, and no late readiness publication brings the record back.
    engine.sick = true;
    assert.equal(await worker.shutdown(), 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await frontendSide.list("v1/instances/"), []);
    await eventually("the worker gone", () => table.workers(model).length === 0);
  } finally {
    await table.close();
    await worker.shutdown();
    await plane.close();
  }
}

let etcd: EtcdServer | undefined;
after(async () => {
  await etcd?.close();
});

describe("worker readiness published through discovery", () => {
  it("memory: a failing canary takes the worker out of another handle's routing, a passing one back", async () => {
    const store = new MemoryDiscoveryStore();
    const workerSide = new MemoryDiscovery({ store });
    const frontendSide = new MemoryDiscovery({ store });
    try {
      await readinessRoundTrip(workerSide, frontendSide);
    } finally {
      await workerSide.close();
      await frontendSide.close();
    }
  });

  it("etcd: the same across two etcd clients", async () => {
    etcd = await startEtcd();
    const workerSide = await EtcdDiscovery.connect({ endpoints: [etcd.endpoint], ttlSeconds: 5 });
    const frontendSide = await EtcdDiscovery.connect({ endpoints: [etcd.endpoint], ttlSeconds: 5 });
    try {
      await readinessRoundTrip(workerSide, frontendSide);
    } finally {
      await workerSide.close();
      await frontendSide.close();
    }
  });

  it("a record without `ready` (older workers) counts as ready; `ready: false` does not", async () => {
    const d = new MemoryDiscovery();
    const card = (id: string) => ({
      served_model_name: "m",
      model_name: "m",
      model_type: ["chat"],
      model_input: "Tokens",
      instance_id: id,
    });
    const base = { namespace: "ns", component: "c", endpoint: "e", transport: { inprocess: "x" } };
    const table = await RoutingTable.open(d);
    const router = new WorkerRouter({ table, requestPlane: new InProcessRequestPlane() });
    try {
      await d.register("v1/mdc/ns/c/e/1", card("1"));
      await d.register("v1/instances/ns/c/e/1", { ...base, instance_id: "1" });
      await d.register("v1/mdc/ns/c/e/2", card("2"));
      await d.register("v1/instances/ns/c/e/2", { ...base, instance_id: "2", ready: false });
      await eventually("both known", () => table.allWorkers().length === 2);
      const ready = Object.fromEntries(
        table.allWorkers().map((w) => [w.instanceId, router.isReady(w)]),
      );
      assert.deepEqual(ready, { "1": true, "2": false });
      await d.register("v1/instances/ns/c/e/2", { ...base, instance_id: "2", ready: true });
      await eventually("worker 2 ready", () => router.isReady(table.allWorkers()[1]));
    } finally {
      await table.close();
      await d.close();
    }
  });
});
