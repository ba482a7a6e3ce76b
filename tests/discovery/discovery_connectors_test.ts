import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { builtinConnectors, closePlanes, connectPlanes } from "../../src/worker/planes.ts";
import {
  discoveryBackendName,
  discoveryTtlSeconds,
} from "../../src/discovery/discovery_connectors.ts";
import { removeDir, tempDir } from "../support/loopback_process.ts";
import { type EtcdServer, startEtcd } from "../support/etcd_server.ts";
import { type NatsKvServer, startNatsKvServer } from "../support/nats_kv_server.ts";

const planes = { request_plane: "inprocess", event_plane: "inprocess" };
const envOf = (vars: Record<string, string>) => (name: string) => vars[name];
const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const fn of cleanup) await fn();
});

describe("discovery connectors (connectPlanes by name and env)", () => {
  it("file: DYN_FILE_KV picks the directory; two processes' handles see each other", async () => {
    const dir = await tempDir("sluice-file-kv-");
    cleanup.push(() => removeDir(dir));
    const env = envOf({ DYN_FILE_KV: dir, DYN_DISCOVERY_TTL_SECS: "2" });
    const a = await connectPlanes({ discovery_backend: "file", ...planes }, env);
    const b = await connectPlanes({ discovery_backend: "file", ...planes }, env);
    try {
      assert.equal(a.discovery.kind, "file");
      await a.discovery.register("v1/instances/f/1", { ok: 1 });
      assert.deepEqual(await b.discovery.list("v1/instances/"), [
        { key: "v1/instances/f/1", value: { ok: 1 } },
      ]);
    } finally {
      await closePlanes(a);
      await closePlanes(b);
    }
  });

  it("etcd: ETCD_ENDPOINTS picks the cluster", async () => {
    const server: EtcdServer = await startEtcd();
    cleanup.push(() => server.close());
    const p = await connectPlanes(
      { discovery_backend: "etcd", ...planes },
      envOf({ ETCD_ENDPOINTS: `http://127.0.0.1:9,${server.endpoint}` }),
    );
    try {
      assert.equal(p.discovery.kind, "etcd");
      await p.discovery.register("v1/instances/e/1", { ok: 1 });
      assert.equal((await p.discovery.list("v1/instances/")).length, 1);
    } finally {
      await closePlanes(p);
    }
  });

  it("nats: NATS_SERVER picks the server (WebSocket URL too)", async () => {
    const server: NatsKvServer = await startNatsKvServer();
    cleanup.push(() => server.close());
    for (const url of [server.url, server.wsUrl]) {
      const p = await connectPlanes(
        { discovery_backend: "nats", ...planes },
        envOf({ NATS_SERVER: url }),
      );
      try {
        assert.equal(p.discovery.kind, "nats");
        await p.discovery.register("v1/instances/n/1", { url });
        assert.deepEqual(await p.discovery.list("v1/instances/"), [
          { key: "v1/instances/n/1", value: { url } },
        ]);
      } finally {
        await closePlanes(p);
      }
    }
  });

  it("unreachable servers fail with CannotConnect naming the address", async () => {
    for (
      const [backend, env, address] of [
        ["etcd", { ETCD_ENDPOINTS: "http://127.0.0.1:9" }, "127.0.0.1:9"],
        ["nats", { NATS_SERVER: "nats://127.0.0.1:9" }, "127.0.0.1:9"],
      ] as const
    ) {
      await assert.rejects(
        connectPlanes({ discovery_backend: backend, ...planes }, envOf(env)),
        (e: unknown) =>
          (e as { kind?: string }).kind === "CannotConnect" &&
          (e as Error).message.includes(address),
      );
    }
  });

  it("bad settings fail with InvalidArgument", async () => {
    assert.throws(
      () => discoveryTtlSeconds(envOf({ DYN_DISCOVERY_TTL_SECS: "0.5" })),
      (e: unknown) => (e as { kind?: string }).kind === "InvalidArgument",
    );
    await assert.rejects(
      connectPlanes(
        { discovery_backend: "etcd", ...planes },
        envOf({ ETCD_ENDPOINTS: "127.0.0.1:2379" }),
      ),
      (e: unknown) => (e as { kind?: string }).kind === "InvalidArgument",
    );
    await assert.rejects(
      connectPlanes(
        { discovery_backend: "nats", ...planes },
        envOf({ NATS_SERVER: "http://127.0.0.1:4222" }),
      ),
      (e: unknown) => (e as { kind?: string }).kind === "InvalidArgument",
    );
    assert.deepEqual(Object.keys(builtinConnectors().discovery).sort(), [
      "etcd",
      "file",
      "memory",
      "nats",
    ]);
  });

  it("the backend name: flag, else DYN_DISCOVERY_BACKEND, else the fallback", () => {
    const env = envOf({ DYN_DISCOVERY_BACKEND: "etcd" });
    assert.equal(discoveryBackendName("file", env, "memory"), "file");
    assert.equal(discoveryBackendName(undefined, env, "memory"), "etcd");
    assert.equal(discoveryBackendName(undefined, envOf({}), "memory"), "memory");
    assert.throws(() => discoveryBackendName("Etcd!", env, "memory"));
  });
});
