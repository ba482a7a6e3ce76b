import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { NatsKvDiscovery } from "../../src/discovery/nats_kv_discovery.ts";
import { connectNats } from "../../src/wire/nats_connection.ts";
import { fromKvKey, kvFilterFor, toKvKey } from "../../src/discovery/nats_kv_key.ts";
import { type NatsKvServer, startNatsKvServer } from "../support/nats_kv_server.ts";
import { discoveryConformance, discoveryLivenessConformance } from "./discovery_conformance.ts";

let server: NatsKvServer | undefined;
let buckets = 0;
before(async () => {
  server = await startNatsKvServer();
});
after(async () => {
  await server?.close();
});

function harness(ttlMs = 10000, url = () => server!.url) {
  const bucket = `discovery_test_${++buckets}`;
  return Promise.resolve({
    connect: async () =>
      NatsKvDiscovery.connect({
        connection: await connectNats([url()]),
        ownsConnection: true,
        bucket,
        ttlMs,
      }),
    crash: (d: unknown) => (d as NatsKvDiscovery).halt(),
    livenessMs: ttlMs + Math.min(1000, ttlMs / 3),
  });
}

discoveryConformance("nats (TCP)", () => harness());
discoveryConformance("nats (WebSocket)", () => harness(10000, () => server!.wsUrl));
discoveryLivenessConformance("nats", () => harness(3000));

describe("NATS KV discovery specifics", () => {
  it("maps keys to KV tokens and back, any characters", () => {
    for (const key of ["v1/instances/ns/c/e/1f", "../x", "a//b/", "é space=.%", ""]) {
      assert.equal(fromKvKey(toKvKey(key)), key);
      assert.match(toKvKey(key), /^[-/=.\w]+$/);
    }
    assert.equal(
      toKvKey("v1/instances/dynamo/backend/generate/1f"),
      "v1.instances.dynamo.backend.generate.1f",
    );
    assert.equal(kvFilterFor("v1/instances/"), "v1.instances.>");
    assert.equal(kvFilterFor("v1/inst"), ">");
  });

  it("an unreachable server fails with CannotConnect naming it", async () => {
    await assert.rejects(
      connectNats(["nats://127.0.0.1:9"], { timeoutMs: 500 }),
      (e: unknown) =>
        (e as { kind?: string }).kind === "CannotConnect" &&
        (e as Error).message.includes("127.0.0.1:9"),
    );
  });

  it("survives a nats-server restart: registrations and the watch come back", async () => {
    const h = await harness(3000);
    const worker = await h.connect();
    const frontend = await h.connect();
    try {
      await worker.register("v1/instances/r/w1", { id: "w1" });
      const watch = frontend.watch("v1/instances/r/");
      const it = watch[Symbol.asyncIterator]();
      const first = await it.next();
      assert.equal(!first.done && first.value.type, "snapshot");
      await server!.stop();
      await new Promise((r) => setTimeout(r, 500));
      await server!.start();
      const late = await h.connect();
      try {
        await late.register("v1/instances/r/w2", { id: "w2" });
        const deadline = Date.now() + 15000;
        let sawW2 = false;
        while (!sawW2 && Date.now() < deadline) {
          const r = await it.next();
          if (r.done) break;
          if (r.value.type === "added" && r.value.entry.key === "v1/instances/r/w2") sawW2 = true;
          assert.ok(
            !(r.value.type === "removed" && r.value.key === "v1/instances/r/w1"),
            "w1 must stay",
          );
        }
        assert.ok(sawW2, "the watch resumed after the restart");
        // The worker's heartbeat outlives the restart: w1 stays listed past the TTL.
        await new Promise((r) => setTimeout(r, 3500));
        assert.deepEqual((await frontend.list("v1/instances/r/")).map((e) => e.key), [
          "v1/instances/r/w1",
          "v1/instances/r/w2",
        ]);
      } finally {
        await late.close();
      }
      await watch.close();
    } finally {
      await worker.close();
      await frontend.close();
    }
  });
});
