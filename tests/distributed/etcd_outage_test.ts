/**
 * etcd stopped for longer than the lease TTL, then started again, under a frontend and
 * two workers: requests keep flowing over NATS meanwhile (the frontend routes on what it
 * knows), and afterwards routing recovers: the workers' registrations are there (etcd
 * extends leases on start; a lost lease is granted anew and the keys registered again, as
 * src/discovery/etcd_discovery.ts documents), a new worker joins routing and a killed one
 * leaves it.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Cluster, eventually, startCluster, TTL_SECS } from "./_cluster.ts";
import { FIRST_TOKEN, streamCompletion, streamProblems } from "./_client.ts";

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
});
