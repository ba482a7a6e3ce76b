/** scripts/dev_servers.sh: start (installing when missing), ready, usable, status, stop. */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import process from "node:process";
import { freePort, removeDir, tempDir } from "../support/loopback_process.ts";
import { EtcdDiscovery } from "../../src/discovery/etcd_discovery.ts";
import { NatsKvDiscovery } from "../../src/discovery/nats_kv_discovery.ts";
import { connectNats } from "../../src/wire/nats_connection.ts";

function script(command: string, env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile("bash", ["scripts/dev_servers.sh", command], {
      env: { ...process.env, ...env },
      timeout: 120000,
    }, (error, stdout, stderr) => {
      resolve({
        code: error ? (typeof error.code === "number" ? error.code : 1) : 0,
        stdout,
        stderr,
      });
    });
  });
}
let env: Record<string, string> | undefined;
let dir: string | undefined;
after(async () => {
  if (env) await script("stop", env);
  if (dir) await removeDir(dir);
});

describe("scripts/dev_servers.sh", () => {
  it("starts nats-server (JetStream + WebSocket) and etcd ready to use, then stops them", async () => {
    dir = await tempDir("sluice-dev-");
    env = {
      SLUICE_DEV_DIR: dir,
      NATS_PORT: String(await freePort()),
      NATS_WS_PORT: String(await freePort()),
      NATS_HTTP_PORT: String(await freePort()),
      ETCD_PORT: String(await freePort()),
      ETCD_PEER_PORT: String(await freePort()),
    };
    const started = await script("start", env);
    assert.equal(started.code, 0, started.stderr);
    const exports = Object.fromEntries(
      [...started.stdout.matchAll(/^export (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]),
    );
    assert.equal(exports.NATS_SERVER, `nats://127.0.0.1:${env.NATS_PORT}`);
    assert.equal(exports.ETCD_ENDPOINTS, `http://127.0.0.1:${env.ETCD_PORT}`);
    // Ready means usable: etcd grants a lease, JetStream KV works over TCP and WebSocket.
    const etcd = await EtcdDiscovery.connect({ endpoints: [exports.ETCD_ENDPOINTS] });
    await etcd.register("v1/instances/dev/1", { ok: true });
    assert.equal((await etcd.list("v1/instances/")).length, 1);
    await etcd.close();
    for (const url of [exports.NATS_SERVER, `ws://127.0.0.1:${env.NATS_WS_PORT}`]) {
      const kv = await NatsKvDiscovery.connect({
        connection: await connectNats([url]),
        ownsConnection: true,
      });
      await kv.register("v1/instances/dev/1", { url });
      assert.equal((await kv.list("v1/instances/")).length, 1);
      await kv.close();
    }
    assert.equal((await script("status", env)).code, 0);
    const again = await script("start", env);
    assert.equal(again.code, 0);
    assert.match(again.stderr, /already running/);
    assert.equal((await script("stop", env)).code, 0);
    const status = await script("status", env);
    assert.equal(status.code, 1);
    assert.match(status.stderr, /nats-server: not ready/);
    assert.match(status.stderr, /etcd: not ready/);
  });
});
