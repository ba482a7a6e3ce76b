/**
 * The routing table (fed by discovery) and the router: policies, admission, direct
 * routing, retries and cool-down after request-path failures. Uses memory discovery
 * and a scripted request plane.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { discoveryKey, DiscoveryPrefix } from "../../src/discovery/discovery.ts";
import { MemoryDiscovery } from "../../src/discovery/memory_discovery.ts";
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
import { ErrorCode, SluiceError } from "../../src/errors/sluice_error.ts";
import type { InstanceRecord, ModelCardInput } from "../../src/model_card/model_card.ts";
import type {
  RequestPlane,
  ResponseStream,
  TransportAddress,
} from "../../src/request_plane/request_plane.ts";
import {
  DirectPolicy,
  LeastLoadedPolicy,
  RandomPolicy,
  RoundRobinPolicy,
  RoutingTable,
  WorkerRouter,
} from "../../src/router/mod.ts";
import { ALL_WORKERS_BUSY_BODY, httpErrorFrom } from "../../src/frontend/openai_error.ts";

const path = { namespace: "dynamo", component: "backend", endpoint: "generate" };

async function register(
  discovery: MemoryDiscovery,
  id: string,
  model: string,
  extra: Partial<InstanceRecord> = {},
): Promise<void> {
  const card: ModelCardInput = {
    served_model_name: model,
    model_name: model,
    model_type: ["chat", "completions"],
    model_input: "Tokens",
    instance_id: id,
  };
  const record: InstanceRecord = {
    ...path,
    instance_id: id,
    transport: { inprocess: `w${id}` },
    ...extra,
  };
  await discovery.register(discoveryKey(DiscoveryPrefix.modelCards, path, id), card);
  await discovery.register(discoveryKey(DiscoveryPrefix.instances, path, id), record);
}

/** A request plane that records calls and fails for the addresses in `failing`. */
class ScriptedPlane implements RequestPlane {
  readonly kind = "scripted";
  readonly calls: string[] = [];
  failing = new Map<string, SluiceError>();

  serve(): never {
    throw new Error("not used");
  }

  call(address: TransportAddress): Promise<ResponseStream> {
    const target = (address as { inprocess: string }).inprocess;
    this.calls.push(target);
    const failure = this.failing.get(target);
    if (failure) return Promise.reject(failure);
    const readable = ReadableStream.from<GenerateChunk>([
      { token_ids: [1], index: 0, finish_reason: "length" },
    ]);
    return Promise.resolve({
      id: "r",
      readable,
      stop() {},
      kill() {},
      [Symbol.asyncIterator]: () => readable[Symbol.asyncIterator](),
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

describe("policies", () => {
  const workers = [
    { instanceId: "1", inflight: 2 },
    { instanceId: "2", inflight: 0 },
    { instanceId: "3", inflight: 1 },
  ];
  const request = { model: "m" };

  it("round-robin cycles", () => {
    const policy = new RoundRobinPolicy();
    const picks = Array.from({ length: 4 }, () => policy.select(workers, request)?.instanceId);
    assert.deepEqual(picks, ["1", "2", "3", "1"]);
  });

  it("random uses its source of randomness", () => {
    assert.equal(new RandomPolicy(() => 0).select(workers, request)?.instanceId, "1");
    assert.equal(new RandomPolicy(() => 0.5).select(workers, request)?.instanceId, "2");
    assert.equal(new RandomPolicy(() => 0.999).select(workers, request)?.instanceId, "3");
  });

  it("least-loaded picks the fewest in flight and rotates among ties", () => {
    const policy = new LeastLoadedPolicy();
    assert.equal(policy.select(workers, request)?.instanceId, "2");
    const idle = [{ instanceId: "a", inflight: 0 }, { instanceId: "b", inflight: 0 }];
    const picks = new Set(
      Array.from({ length: 4 }, () => policy.select(idle, request)?.instanceId),
    );
    assert.deepEqual([...picks].sort(), ["a", "b"]);
  });

  it("direct picks the named instance or none", () => {
    const policy = new DirectPolicy();
    assert.equal(policy.select(workers, { model: "m", instanceId: "3" })?.instanceId, "3");
    assert.equal(policy.select(workers, { model: "m", instanceId: "9" }), undefined);
    assert.equal(policy.select(workers, request), undefined);
  });
});

describe("routing table", () => {
  it("joins instance records and model cards from discovery, live", async () => {
    const discovery = new MemoryDiscovery();
    await register(discovery, "11", "alpha");
    const table = await RoutingTable.open(discovery);
    try {
      assert.deepEqual(table.models(), ["alpha"]);
      let changes = 0;
      table.subscribe(() => changes++);
      // A card without its instance record is not routable yet.
      await discovery.register(discoveryKey(DiscoveryPrefix.modelCards, path, "12"), {
        served_model_name: "beta",
        model_name: "beta",
        model_type: ["chat"],
        model_input: "Tokens",
        instance_id: "12",
      });
      assert.deepEqual(table.models(), ["alpha"]);
      await discovery.register(discoveryKey(DiscoveryPrefix.instances, path, "12"), {
        ...path,
        instance_id: "12",
        transport: { inprocess: "w12" },
      });
      assert.deepEqual(table.models(), ["alpha", "beta"]);
      assert.equal(table.card("beta")?.instance_id, "12");
      const slot = table.workers("alpha")[0];
      slot.inflight = 3;
      await discovery.unregister(discoveryKey(DiscoveryPrefix.instances, path, "12"));
      assert.deepEqual(table.models(), ["alpha"]);
      assert.equal(table.workers("alpha")[0], slot, "unrelated changes keep a worker's slot");
      assert.equal(table.workers("alpha")[0].inflight, 3);
      assert.ok(changes >= 3);
      // Invalid entries are ignored, not fatal.
      await discovery.register(discoveryKey(DiscoveryPrefix.modelCards, path, "13"), { bogus: 1 });
      assert.deepEqual(table.models(), ["alpha"]);
    } finally {
      await table.close();
      await discovery.close();
    }
  });
});

describe("worker router", () => {
  async function setup(
    ids: string[],
    options: Partial<ConstructorParameters<typeof WorkerRouter>[0]> = {},
  ) {
    const discovery = new MemoryDiscovery();
    for (const id of ids) await register(discovery, id, "m");
    const table = await RoutingTable.open(discovery);
    const plane = new ScriptedPlane();
    const router = new WorkerRouter({ table, requestPlane: plane, ...options });
    return {
      router,
      plane,
      table,
      async close() {
        await table.close();
        await discovery.close();
      },
    };
  }

  it("round-robins over the workers of the model and counts in-flight requests", async () => {
    const { router, plane, table, close } = await setup(["1", "2"]);
    try {
      const a = await router.route("m", {});
      const b = await router.route("m", {});
      assert.deepEqual(plane.calls, ["w1", "w2"]);
      assert.deepEqual(table.workers("m").map((w) => w.inflight), [1, 1]);
      a.release();
      a.release();
      b.release();
      assert.deepEqual(table.workers("m").map((w) => w.inflight), [0, 0]);
    } finally {
      await close();
    }
  });

  it("refuses with all_workers_busy only when every worker is at its limit", async () => {
    const { router, close } = await setup(["1", "2"], { maxInflightPerWorker: 1 });
    try {
      const a = await router.route("m", {});
      const b = await router.route("m", {});
      await assert.rejects(
        router.route("m", {}),
        (e: SluiceError) => e.code === ErrorCode.AllWorkersBusy,
      );
      a.release();
      (await router.route("m", {})).release();
      b.release();
    } finally {
      await close();
    }
  });

  it("answers all_workers_busy when every worker refuses as overloaded", async () => {
    const { router, plane, close } = await setup(["1", "2"]);
    try {
      const overloaded = () =>
        new SluiceError("EngineShutdown", "Cannot accept request: worker overloaded", {
          code: "worker_overloaded",
        });
      plane.failing.set("w1", overloaded());
      plane.failing.set("w2", overloaded());
      await assert.rejects(
        router.route("m", {}),
        (e: SluiceError) =>
          e.kind === "EngineShutdown" && e.code === ErrorCode.AllWorkersBusy &&
          e.message === "Service temporarily unavailable: all workers are busy",
      );
      assert.deepEqual(plane.calls.sort(), ["w1", "w2"], "both workers were tried");
      // One overloaded, one unreachable: not "all busy"; the last refusal is reported.
      plane.failing.set("w2", new SluiceError("CannotConnect", "gone"));
      await assert.rejects(
        router.route("m", {}),
        (e: SluiceError) => e.code !== ErrorCode.AllWorkersBusy,
      );
    } finally {
      await close();
    }
  });

  it("skips workers that are not ready, and says so when none is", async () => {
    const notReady = new Set<string>(["1"]);
    const { router, plane, close } = await setup(["1", "2"], {
      isReady: (id) => !notReady.has(id),
    });
    try {
      for (let i = 0; i < 3; i++) (await router.route("m", {})).release();
      assert.deepEqual(plane.calls, ["w2", "w2", "w2"], "worker 1 is not ready");
      notReady.add("2");
      await assert.rejects(
        router.route("m", {}),
        (e: SluiceError) =>
          e.kind === "EngineShutdown" && e.code === ErrorCode.NoReadyWorkers &&
          e.message === 'Service temporarily unavailable: no worker of model "m" is ready',
      );
      assert.equal(plane.calls.length, 3, "a not-ready worker is never called");
      notReady.clear();
      const picks = new Set<string>();
      for (let i = 0; i < 2; i++) {
        const routed = await router.route("m", {});
        picks.add(routed.instanceId);
        routed.release();
      }
      assert.deepEqual([...picks].sort(), ["1", "2"], "ready again, routed again");
    } finally {
      await close();
    }
  });

  it("honours a limit advertised in the instance record", async () => {
    const discovery = new MemoryDiscovery();
    await register(discovery, "1", "m", { max_inflight_requests: 1 });
    const table = await RoutingTable.open(discovery);
    const router = new WorkerRouter({ table, requestPlane: new ScriptedPlane() });
    try {
      const a = await router.route("m", {});
      await assert.rejects(
        router.route("m", {}),
        (e: SluiceError) => e.code === ErrorCode.AllWorkersBusy,
      );
      a.release();
    } finally {
      await table.close();
      await discovery.close();
    }
  });

  it("retries elsewhere and cools a failed worker down for the cool-down period", async () => {
    let now = 1000;
    const { router, plane, close } = await setup(["1", "2"], { now: () => now, cooldownMs: 5000 });
    try {
      plane.failing.set("w1", new SluiceError("CannotConnect", "gone"));
      const first = await router.route("m", {});
      assert.equal(first.instanceId, "2");
      assert.deepEqual(plane.calls, ["w1", "w2"]);
      plane.failing.clear();
      for (let i = 0; i < 3; i++) (await router.route("m", {})).release();
      assert.deepEqual(
        plane.calls.slice(2),
        ["w2", "w2", "w2"],
        "w1 is skipped while cooling down",
      );
      now += 5001;
      const picks = new Set<string>();
      for (let i = 0; i < 2; i++) {
        const routed = await router.route("m", {});
        picks.add(routed.instanceId);
        routed.release();
      }
      assert.deepEqual([...picks].sort(), ["1", "2"], "w1 is back after the cool-down");
      // A stream that breaks with Disconnected cools its worker down too.
      const broken = await router.route("m", {});
      broken.release(new SluiceError("Disconnected", "lost"));
      const after = await router.route("m", {});
      assert.notEqual(after.instanceId, broken.instanceId);
      after.release();
      first.release();
    } finally {
      await close();
    }
  });

  it("reports no workers when none is available, and does not retry a bad request", async () => {
    const { router, plane, close } = await setup(["1"]);
    try {
      await assert.rejects(router.route("other", {}), (e: SluiceError) => e.code === "no_workers");
      plane.failing.set("w1", new SluiceError("InvalidArgument", "bad"));
      await assert.rejects(router.route("m", {}), (e: SluiceError) => e.kind === "InvalidArgument");
      assert.deepEqual(plane.calls, ["w1"]);
    } finally {
      await close();
    }
  });

  it("routes direct requests by x-worker-instance-id", async () => {
    const { router, plane, close } = await setup(["1", "2"], { policy: "direct" });
    try {
      (await router.route("m", {}, { instanceId: "2" })).release();
      (await router.route("m", {}, { instanceId: "2" })).release();
      assert.deepEqual(plane.calls, ["w2", "w2"]);
      await assert.rejects(
        router.route("m", {}),
        (e: SluiceError) => e.kind === "InvalidArgument" && e.code === ErrorCode.MissingInstanceId,
      );
      await assert.rejects(
        router.route("m", {}, { instanceId: "9" }),
        (e: SluiceError) => e.code === ErrorCode.InstanceNotFound,
      );
      plane.failing.set("w2", new SluiceError("CannotConnect", "gone"));
      await assert.rejects(
        router.route("m", {}, { instanceId: "2" }),
        (e: SluiceError) => e.kind === "CannotConnect",
      );
      assert.deepEqual(plane.calls, ["w2", "w2", "w2"], "direct routing never falls back");
    } finally {
      await close();
    }
  });

  it("refuses a busy direct target with worker_busy, whose 503 body is not the all-busy one", async () => {
    const { router, close } = await setup(["1", "2"], {
      policy: "direct",
      maxInflightPerWorker: 1,
    });
    try {
      const held = await router.route("m", {}, { instanceId: "2" });
      let refusal: SluiceError | undefined;
      await assert.rejects(router.route("m", {}, { instanceId: "2" }), (e: SluiceError) => {
        refusal = e;
        return e.kind === "EngineShutdown" && e.code === ErrorCode.WorkerBusy;
      });
      held.release();
      const http = httpErrorFrom(refusal);
      assert.equal(http.status, 503);
      assert.notDeepEqual(http.body, ALL_WORKERS_BUSY_BODY);
      assert.match(http.body.error.message, /worker 2 is busy/);
      // The body is chosen by code alone: the all-busy code gets Dynamo's body whatever the text.
      const relabelled = new SluiceError("EngineShutdown", "other text", {
        code: ErrorCode.AllWorkersBusy,
      });
      assert.deepEqual(httpErrorFrom(relabelled).body, ALL_WORKERS_BUSY_BODY);
    } finally {
      await close();
    }
  });

  it("rejects an unknown mode", () => {
    assert.throws(
      () =>
        new WorkerRouter({
          table: undefined as unknown as RoutingTable,
          requestPlane: new ScriptedPlane(),
          policy: "kv",
        }),
      (e: SluiceError) => e.kind === "InvalidArgument" && e.param === "--router-mode",
    );
  });
});
