import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { EtcdDiscovery } from "../../src/discovery/etcd_discovery.ts";
import { type EtcdServer, startEtcd } from "../support/etcd_server.ts";
import { discoveryConformance, discoveryLivenessConformance } from "./discovery_conformance.ts";

let server: EtcdServer | undefined;
before(async () => {
  server = await startEtcd();
});
after(async () => {
  await server?.close();
});

/** Handles on the shared test etcd; `close` empties `v1/` so each test starts clean. */
function harness(ttlSeconds = 10) {
  return Promise.resolve({
    connect: () => EtcdDiscovery.connect({ endpoints: [server!.endpoint], ttlSeconds }),
    crash: (d: unknown) => (d as EtcdDiscovery).halt(),
    livenessMs: ttlSeconds * 1000,
    close: async () => {
      // Leave nothing behind for the next test (keys of crashed handles included).
      await fetch(`${server!.endpoint}/v3/kv/deleterange`, {
        method: "POST",
        body: JSON.stringify({ key: btoa("v1/"), range_end: btoa("v10") }),
      });
    },
  });
}

discoveryConformance("etcd", () => harness());
discoveryLivenessConformance("etcd", () => harness(3));

describe("etcd discovery specifics", () => {
  it("lease ids stay exact decimal strings", async () => {
    const d = await EtcdDiscovery.connect({ endpoints: [server!.endpoint], ttlSeconds: 5 });
    try {
      assert.match(d.leaseId, /^[0-9]+$/);
      assert.ok(BigInt(d.leaseId) > 0n);
    } finally {
      await d.close();
    }
  });

  it("connect to a dead endpoint fails with CannotConnect naming it", async () => {
    await assert.rejects(
      EtcdDiscovery.connect({ endpoints: ["http://127.0.0.1:9"] }),
      (e: unknown) =>
        (e as { kind?: string }).kind === "CannotConnect" &&
        (e as Error).message.includes("127.0.0.1:9"),
    );
  });
});
