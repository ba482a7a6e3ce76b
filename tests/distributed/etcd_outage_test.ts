/**
 * etcd stopped for longer than the lease TTL, then started again, under a frontend and
 * two workers: requests keep flowing over NATS meanwhile (the frontend routes on what it
 * knows), and afterwards routing recovers: the workers' registrations are there (etcd
 * extends leases on start; a lost lease is granted anew and the keys registered again, as
 * src/discovery/etcd_discovery.ts documents), a new worker joins routing and a killed one
 * leaves it. And a worker cut off from etcd (a TCP proxy between them) for longer than the TTL,
 * while etcd stays up, loses its lease, leaves routing, and registers again once it reaches
 * etcd: routing to it recovers by itself.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Cluster, eventually, startCluster, TTL_SECS } from "./_cluster.ts";
import { FIRST_TOKEN, streamCompletion, streamProblems } from "./_client.ts";
import { startTcpProxy } from "../support/tcp_proxy.ts";

let cluster: Cluster | undefined;
before(async () => {
  cluster = await startCluster({
    discovery: "etcd",
    workers: [{ delayMs: 5 }, { delayMs: 5 }],
  });
});
after(async () => {
  await cluster?.close();
});

async function assertServes(c: Cluster, offset: number, count: number) {
  const results = await Promise.all(
    Array.from({ length: count }, (_, i) => streamCompletion(c.url, FIRST_TOKEN + offset + i, 8)),
  );
  for (const [i, r] of results.entries()) {
    assert.deepEqual(await streamProblems(r, FIRST_TOKEN + offset + i, 8), [], `request ${i}`);
  }
}

describe("etcd outage longer than the lease TTL", () => {
  it("keeps serving during the outage and recovers routing after it", async () => {
    const c = cluster!;
    await c.etcd!.stop();
    const outageEnds = performance.now() + TTL_SECS * 1000 + 1500;
    await assertServes(c, 0, 4);
    while (performance.now() < outageEnds) await new Promise((r) => setTimeout(r, 100));
    await c.etcd!.start();
    // Both workers are registered and routable again.
    await c.waitReady(2, "counting", 20_000);
    await assertServes(c, 10, 4);
    // The frontend's watch works again: a new worker joins routing ...
    const fresh = c.addWorker({ delayMs: 5 });
    await c.waitReady(3, "counting", 30_000);
    const before = fresh.generated().length;
    await assertServes(c, 20, 6);
    assert.ok(fresh.generated().length > before, "the new worker gets requests");
    // ... and a killed one leaves it within the TTL.
    c.workers[0].process.kill("SIGKILL");
    const ms = await eventually(
      "the killed worker gone",
      async () => (await c.instances()).length === 2,
      TTL_SECS * 1000 + 5000,
    );
    assert.ok(ms < TTL_SECS * 1000 + 5000);
    await assertServes(c, 40, 4);
  });

  it("a worker cut off from etcd past its TTL leaves routing, then registers again", async () => {
    const c = cluster!;
    const port = Number(new URL(c.etcd!.endpoint).port);
    const proxy = await startTcpProxy(port);
    try {
      c.addWorker({
        model: "counting-cut",
        delayMs: 5,
        env: { ETCD_ENDPOINTS: `http://127.0.0.1:${proxy.port}` },
      });
      await c.waitReady(1, "counting-cut", 30_000);
      proxy.cut();
      // etcd expires the lease (the worker's keep-alives cannot reach it): the frontend sees
      // the worker leave.
      await eventually(
        "the cut-off worker gone from routing",
        async () => (await c.instances("counting-cut")).length === 0,
        TTL_SECS * 1000 + 5000,
      );
      proxy.restore();
      // Its next keep-alive finds the lease gone: a new lease, every key registered again.
      await c.waitReady(1, "counting-cut", 20_000);
      const r = await streamCompletion(c.url, FIRST_TOKEN + 60, 8, { model: "counting-cut" });
      assert.deepEqual(await streamProblems(r, FIRST_TOKEN + 60, 8), []);
    } finally {
      await proxy.close();
    }
  });
});
