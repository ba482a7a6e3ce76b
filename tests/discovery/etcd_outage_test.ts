import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { EtcdDiscovery } from "../../src/discovery/etcd_discovery.ts";
import type { DiscoveryEvent } from "../../src/discovery/discovery.ts";
import { type EtcdServer, startEtcd } from "../support/etcd_server.ts";

let server: EtcdServer | undefined;
before(async () => {
  server = await startEtcd();
});
after(async () => {
  await server?.close();
});

async function eventually(what: string, check: () => Promise<boolean>, ms = 10000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what} not within ${ms} ms`);
}

async function until<V>(
  it: AsyncIterator<DiscoveryEvent<V>>,
  match: (e: DiscoveryEvent<V>) => boolean,
  ms = 15000,
): Promise<DiscoveryEvent<V>> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      it.next(),
      new Promise<never>((
        _,
        reject,
      ) => (timer = setTimeout(() => reject(new Error("timeout")), deadline - Date.now()))),
    ]).finally(() => clearTimeout(timer));
    if (r.done) assert.fail("watch ended");
    if (match(r.value)) return r.value;
  }
  assert.fail("no matching event");
}

describe("etcd discovery across outages", () => {
  it("etcd down longer than the lease TTL: the registration is back after restart and the watch resumes", async () => {
    const endpoints = [server!.endpoint];
    const worker = await EtcdDiscovery.connect({ endpoints, ttlSeconds: 1 });
    const frontend = await EtcdDiscovery.connect({ endpoints, ttlSeconds: 1 });
    try {
      await worker.register("v1/instances/out/w1", { id: "w1" });
      const watch = frontend.watch<{ id: string }>("v1/instances/out/");
      const it = watch[Symbol.asyncIterator]();
      const snapshot = await until(it, (e) => e.type === "snapshot");
      assert.equal(snapshot.type === "snapshot" && snapshot.entries.length, 1);
      await server!.stop();
      await new Promise((r) => setTimeout(r, 2500)); // > TTL (1 s)
      await server!.start();
      await eventually(
        "the worker's key",
        async () =>
          (await frontend.list("v1/instances/out/")).some((e) => e.key === "v1/instances/out/w1"),
      );
      // The watch resumed: a registration after the restart reaches it.
      const late = await EtcdDiscovery.connect({ endpoints, ttlSeconds: 1 });
      try {
        await late.register("v1/instances/out/w2", { id: "w2" });
        const added = await until(
          it,
          (e) => e.type === "added" && e.entry.key === "v1/instances/out/w2",
        );
        assert.ok(added);
      } finally {
        await late.close();
      }
      // And the worker's lease is alive again: its key outlives several TTLs.
      await new Promise((r) => setTimeout(r, 2500));
      assert.ok((await frontend.list("v1/instances/out/")).some((e) => e.key.endsWith("/w1")));
      await watch.close();
    } finally {
      await worker.close();
      await frontend.close();
    }
  });

  it("a lost lease (expired by etcd) is replaced and every key registered again", async () => {
    const endpoints = [server!.endpoint];
    const worker = await EtcdDiscovery.connect({ endpoints, ttlSeconds: 1 });
    const frontend = await EtcdDiscovery.connect({ endpoints, ttlSeconds: 5 });
    try {
      await worker.register("v1/instances/lost/a", { n: 1 });
      await worker.register("v1/mdc/lost/a", { n: 2 });
      const watch = frontend.watch("v1/instances/lost/");
      const it = watch[Symbol.asyncIterator]();
      await until(it, (e) => e.type === "snapshot");
      const oldLease = worker.leaseId;
      // Revoke behind the worker's back: etcd deletes its keys, as on expiry.
      await fetch(`${server!.endpoint}/v3/lease/revoke`, {
        method: "POST",
        body: JSON.stringify({ ID: oldLease }),
      });
      await until(it, (e) => e.type === "removed" && e.key === "v1/instances/lost/a");
      await until(it, (e) => e.type === "added" && e.entry.key === "v1/instances/lost/a", 5000);
      assert.notEqual(worker.leaseId, oldLease);
      await eventually(
        "the card registered again",
        async () => (await frontend.list("v1/mdc/lost/")).length === 1,
      );
      await watch.close();
    } finally {
      await worker.close();
      await frontend.close();
    }
  });
});

describe("etcd discovery registering on an expired lease", () => {
  it("a register() that finds its lease gone replaces it and succeeds", async () => {
    const d = await EtcdDiscovery.connect({ endpoints: [server!.endpoint], ttlSeconds: 60 });
    try {
      await d.register("v1/instances/exp/a", { n: 1 });
      const old = d.leaseId;
      await fetch(`${server!.endpoint}/v3/lease/revoke`, {
        method: "POST",
        body: JSON.stringify({ ID: old }),
      });
      // The keep-alive (every 20 s) has not noticed; the next registration does.
      await Promise.all([
        d.register("v1/instances/exp/b", { n: 2 }),
        d.register("v1/instances/exp/c", { n: 3 }),
      ]);
      assert.notEqual(d.leaseId, old);
      assert.deepEqual((await d.list("v1/instances/exp/")).map((e) => e.key), [
        "v1/instances/exp/a",
        "v1/instances/exp/b",
        "v1/instances/exp/c",
      ]);
    } finally {
      await d.close();
    }
  });
});
