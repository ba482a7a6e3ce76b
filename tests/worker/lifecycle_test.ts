import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLogger, createWorker } from "../../src/entries/serve.ts";
import {
  type GenerateChunk,
  type GenerateRequest,
  type GenerateRequestInput,
  isSluiceError,
  type RequestContext,
} from "../../mod.ts";
import { InProcessRequestPlane, MemoryDiscovery } from "../../src/entries/planes.ts";
import { SampleEngine } from "../../engines/sample/mod.ts";
import { startEmbeddedWorker, waitUntil } from "../fixtures/embedded_worker.ts";

/** Records the order of lifecycle calls. */
class RecordingEngine extends SampleEngine {
  log: string[] = [];
  seenTraceparent: string | undefined;
  seenHealth: boolean[] = [];
  /** While set, health requests wait on it (an engine stuck on its canary). */
  healthGate: Promise<void> | undefined;
  healthCheckPayload?: () => GenerateRequestInput;
  constructor() {
    super({ delayMs: 2 });
  }
  override start(id: string) {
    this.log.push("start");
    return super.start(id);
  }
  override async *generate(
    req: GenerateRequest,
    ctx: RequestContext,
  ): AsyncGenerator<GenerateChunk> {
    this.seenTraceparent = ctx.traceparent;
    this.seenHealth.push(req._HEALTH_CHECK === true);
    if (req._HEALTH_CHECK && this.healthGate) await this.healthGate;
    try {
      yield* super.generate(req, ctx);
    } finally {
      this.log.push("request-end");
    }
  }
  drain() {
    this.log.push("drain");
    return Promise.resolve();
  }
  override cleanup() {
    this.log.push("cleanup");
    return super.cleanup();
  }
}

const REQ = { token_ids: [1, 2], model: "sample-model", stop_conditions: { max_tokens: 30 } };

describe("worker lifecycle", () => {
  it("registers a model card and instance record, and removes them on shutdown", async () => {
    const engine = new RecordingEngine();
    const w = await startEmbeddedWorker(engine, {
      config: { model_name: "test-model", max_inflight_requests: 8 },
    });
    const cards = await w.discovery.list<
      { served_model_name: string; kv_cache_block_size: number; instance_id: string }
    >(
      "v1/mdc/dynamo/backend/generate/",
    );
    assert.equal(cards.length, 1);
    assert.equal(cards[0].value.served_model_name, "sample-model");
    assert.equal(cards[0].value.kv_cache_block_size, 16);
    assert.equal(cards[0].value.instance_id, w.worker.instanceId);
    const [instance] = await w.discovery.list<
      { instance_id: string; max_inflight_requests: number }
    >("v1/instances/");
    assert.equal(
      instance.key,
      `v1/instances/dynamo/backend/generate/${BigInt(w.worker.instanceId).toString(16)}`,
    );
    assert.equal(instance.value.max_inflight_requests, 8);
    assert.equal(await w.worker.shutdown(), 0);
    assert.deepEqual(await w.discovery.list("v1/"), []);
    await w.close();
  });

  it("shutdown waits for in-flight requests, then drains, then cleans up, once", async () => {
    const engine = new RecordingEngine();
    const w = await startEmbeddedWorker(engine);
    const stream = await w.call(REQ);
    const reading = (async () => {
      let n = 0;
      for await (const c of stream) n += c.token_ids.length;
      return n;
    })();
    await waitUntil(() => w.worker.inflight === 1, 1000, "the request to start");
    const code = await w.worker.shutdown();
    assert.equal(code, 0);
    assert.equal(await reading, 30);
    assert.deepEqual(engine.log, ["start", "request-end", "drain", "cleanup"]);
    assert.equal(await w.worker.shutdown(), 0);
    assert.equal(engine.log.filter((x) => x === "cleanup").length, 1);
    assert.equal(w.worker.state, "Stopped");
    assert.match(w.worker.metrics.render(), /sluice_worker_drain_time_seconds\{/);
    await w.close();
  });

  it("refuses requests while draining and when over its in-flight limit", async () => {
    const engine = new RecordingEngine();
    const w = await startEmbeddedWorker(engine, {
      config: { model_name: "m", max_inflight_requests: 1 },
      timings: { gracePeriodMs: 0, shutdownTimeoutMs: 5000 },
    });
    const first = await w.call(REQ);
    await assert.rejects(
      w.call(REQ),
      (e: unknown) => isSluiceError(e, "EngineShutdown") && e.code === "worker_overloaded",
    );
    const shutdown = w.worker.shutdown();
    await waitUntil(() => w.worker.draining, 1000, "draining");
    await assert.rejects(
      w.call(REQ),
      (e: unknown) => isSluiceError(e, "EngineShutdown") && e.code === "worker_draining",
    );
    for await (const _ of first);
    assert.equal(await shutdown, 0);
    await w.close();
  });

  it("propagates traceparent into the request context", async () => {
    const engine = new RecordingEngine();
    await using w = await startEmbeddedWorker(engine);
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for await (const _ of await w.call(REQ, { headers: { traceparent } }));
    assert.equal(engine.seenTraceparent, traceparent);
  });

  it("a start() that throws runs cleanup once and rejects with EngineShutdown", async () => {
    let cleanups = 0;
    const engine = new SampleEngine();
    engine.start = () => Promise.reject(new Error("no weights"));
    engine.cleanup = () => {
      cleanups++;
      return Promise.resolve();
    };
    const worker = createWorker({
      engine,
      config: { model_name: "m" },
      discovery: new MemoryDiscovery(),
      requestPlane: new InProcessRequestPlane(),
      logger: createLogger({ level: "off" }),
      healthCanary: false,
    });
    await assert.rejects(
      worker.start(),
      (e: unknown) => isSluiceError(e, "EngineShutdown") && /no weights/.test(e.message),
    );
    assert.equal(cleanups, 1);
    assert.equal(await worker.shutdown(), 0);
    assert.equal(cleanups, 1);
    await assert.rejects(worker.start(), TypeError);
  });

  it("shutdown before start never calls cleanup", async () => {
    let cleanups = 0;
    const engine = new SampleEngine();
    engine.cleanup = () => Promise.resolve(void cleanups++);
    const worker = createWorker({
      engine,
      config: { model_name: "m" },
      discovery: new MemoryDiscovery(),
      requestPlane: new InProcessRequestPlane(),
      logger: createLogger({ level: "off" }),
    });
    assert.equal(await worker.shutdown(), 0);
    assert.equal(cleanups, 0);
    assert.equal(worker.state, "Stopped");
  });
});

describe("health canary", () => {
  it("sends the engine's payload when idle, stamped _HEALTH_CHECK, and stays ready", async () => {
    const engine = new RecordingEngine();
    engine.healthCheckPayload = () => ({
      token_ids: [42],
      model: "sample-model",
      stop_conditions: { max_tokens: 1 },
    });
    await using w = await startEmbeddedWorker(engine, {
      healthCanary: true,
      timings: { canaryWaitMs: 20, canaryTimeoutMs: 500, gracePeriodMs: 0 },
    });
    await waitUntil(
      () => /sluice_worker_health_checks_total\{[^}]*result="ok"/.test(w.worker.metrics.render()),
      2000,
      "a successful canary",
    );
    assert.ok(engine.seenHealth.includes(true));
    assert.equal(w.worker.ready, true);
    const metrics = w.worker.metrics.render();
    assert.doesNotMatch(metrics, /sluice_worker_requests_total\{/, "canaries are not requests");
    assert.doesNotMatch(metrics, /sluice_worker_output_tokens_total\{/);
  });

  it("marks the worker not ready when the canary times out, and recovers", async () => {
    const engine = new RecordingEngine();
    const gate = Promise.withResolvers<void>();
    engine.healthGate = gate.promise;
    await using w = await startEmbeddedWorker(engine, {
      healthCanary: true,
      timings: { canaryWaitMs: 20, canaryTimeoutMs: 50, gracePeriodMs: 0 },
    });
    await waitUntil(() => !w.worker.ready, 2000, "the worker to turn not ready");
    engine.healthGate = undefined;
    gate.resolve();
    await waitUntil(() => w.worker.ready, 2000, "the worker to recover");
  });

  it("a configured payload wins over the env one and the engine's", async () => {
    const engine = new RecordingEngine();
    let seen: number[] | undefined;
    const generate = engine.generate.bind(engine);
    engine.generate = (req, ctx) => {
      if (req._HEALTH_CHECK) seen = req.token_ids;
      return generate(req, ctx);
    };
    engine.healthCheckPayload = () => ({ token_ids: [3], model: "sample-model" });
    await using _w = await startEmbeddedWorker(engine, {
      healthCanary: true,
      config: {
        model_name: "m",
        health_check_payload: { token_ids: [1], stop_conditions: { max_tokens: 1 } },
      },
      healthCheckPayloadFromEnv: { token_ids: [2] },
      timings: { canaryWaitMs: 10, canaryTimeoutMs: 500, gracePeriodMs: 0 },
    });
    await waitUntil(() => seen !== undefined, 2000, "a canary");
    assert.deepEqual(seen, [1]);
  });
});
