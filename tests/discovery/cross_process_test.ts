/**
 * Worker processes on each real discovery backend, watched from this process (the
 * "frontend"): a worker appears, its canary verdict switches routing off and on, a clean
 * SIGTERM removes it at once, and `kill -9` removes it within the liveness TTL.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InProcessRequestPlane } from "../../src/entries/planes.ts";
import type { Discovery } from "../../src/discovery/discovery.ts";
import { discoveryConnectors } from "../../src/discovery/discovery_connectors.ts";
import { RoutingTable } from "../../src/router/routing_table.ts";
import { WorkerRouter } from "../../src/router/worker_router.ts";
import { spawnFixture } from "../fixtures/spawn_fixture.ts";
import { type EtcdServer, startEtcd } from "../support/etcd_server.ts";
import { type NatsKvServer, startNatsKvServer } from "../support/nats_kv_server.ts";
import { removeDir, tempDir } from "../support/loopback_process.ts";

const TTL_SECS = 3;
let etcd: EtcdServer | undefined;
let nats: NatsKvServer | undefined;
let dir = "";
before(async () => {
  [etcd, nats, dir] = await Promise.all([startEtcd(), startNatsKvServer(), tempDir("sluice-xp-")]);
});
after(async () => {
  await etcd?.close();
  await nats?.close();
  if (dir) await removeDir(dir);
});

async function eventually(what: string, check: () => boolean, ms: number): Promise<number> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > ms) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - t0;
}

function envFor(backend: string): Record<string, string> {
  return {
    DYN_DISCOVERY_BACKEND: backend,
    ETCD_ENDPOINTS: etcd!.endpoint,
    NATS_SERVER: nats!.url,
    DYN_FILE_KV: join(dir, "kv"),
    DYN_DISCOVERY_TTL_SECS: String(TTL_SECS),
    DYN_DISCOVERY_BUCKET: "xp_discovery",
    DYN_CANARY_WAIT_TIME: "0.05",
    DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS: "0",
    DYN_LOG: "warn",
  };
}

for (const backend of ["etcd", "nats", "file"]) {
  describe(`worker processes on ${backend} discovery`, () => {
    it("appear, follow their canary, leave at once on SIGTERM and within the TTL on kill -9", async () => {
      const env = envFor(backend);
      const sick = join(dir, `${backend}-sick`);
      const frontend: Discovery = await discoveryConnectors()[backend]((n) => env[n]);
      const table = await RoutingTable.open(frontend);
      const router = new WorkerRouter({ table, requestPlane: new InProcessRequestPlane() });
      const model = "sample-model";
      const ready = () => table.workers(model).filter((w) => router.isReady(w)).length;
      try {
        // 1. A worker joins and is routable; its canary verdict is published both ways.
        await using first = spawnFixture("tests/support/readiness_worker.ts", [], {
          ...env,
          SICK_FILE: sick,
        });
        await first.waitFor((e) => e.event === "serving", 30000);
        await eventually("the worker routable", () => ready() === 1, 10000);
        await writeFile(sick, "");
        await eventually("the worker not ready", () => ready() === 0, 10000);
        assert.equal(table.workers(model).length, 1, "still known, not routable");
        await rm(sick);
        await eventually("the worker ready again", () => ready() === 1, 10000);

        // 2. SIGTERM: unregistered at once (well before the TTL could expire it).
        first.kill("SIGTERM");
        const cleanMs = await eventually(
          "the worker gone",
          () => table.workers(model).length === 0,
          10000,
        );
        assert.equal(await first.exited, 0, first.stderr());
        assert.ok(cleanMs < TTL_SECS * 1000, `clean removal took ${cleanMs} ms`);

        // 3. kill -9: gone within the TTL (plus the backend's sweep interval).
        await using second = spawnFixture("tests/support/readiness_worker.ts", [], env);
        await second.waitFor((e) => e.event === "serving", 30000);
        await eventually("the second worker routable", () => ready() === 1, 10000);
        second.kill("SIGKILL");
        await second.exited;
        const crashMs = await eventually(
          "the killed worker gone",
          () => table.workers(model).length === 0,
          TTL_SECS * 1000 + 3000,
        );
        // Expiry comes between TTL − TTL/3 (the last heartbeat) and the TTL plus a sweep.
        assert.ok(crashMs > (TTL_SECS * 1000) / 2, `expired after only ${crashMs} ms`);
      } finally {
        await table.close();
        await frontend.close();
        await rm(sick, { force: true });
      }
    });
  });
}
