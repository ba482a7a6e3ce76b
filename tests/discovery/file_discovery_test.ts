import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdir, utimes } from "node:fs/promises";
import { join } from "node:path";
import { encodeFileKey, FileDiscovery } from "../../src/discovery/file_discovery.ts";
import { localDirectoryStore } from "../../src/runtime/directory_store.ts";
import { removeDir, tempDir } from "../support/loopback_process.ts";
import { discoveryConformance, discoveryLivenessConformance } from "./discovery_conformance.ts";

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await removeDir(dir);
});

async function harness(ttlMs = 10000) {
  const dir = await tempDir("sluice-file-kv-");
  dirs.push(dir);
  return {
    connect: () => FileDiscovery.connect({ store: localDirectoryStore(dir), ttlMs }),
    crash: (d: unknown) => (d as FileDiscovery).halt(),
    livenessMs: ttlMs + Math.min(1000, ttlMs / 3),
  };
}

discoveryConformance("file", () => harness());
discoveryLivenessConformance("file", () => harness(3000));

describe("file discovery specifics", () => {
  it("one percent-encoded file per key, no temp files left, nothing after close", async () => {
    const dir = await tempDir("sluice-file-kv-");
    dirs.push(dir);
    const d = await FileDiscovery.connect({ store: localDirectoryStore(dir) });
    await d.register("v1/instances/ns/c/e/1f", { a: 1 });
    await d.register("../escape", { b: 2 });
    assert.deepEqual(
      (await readdir(dir)).sort(),
      [
        encodeFileKey("../escape"),
        encodeFileKey("v1/instances/ns/c/e/1f"),
      ].sort(),
    );
    assert.equal(encodeFileKey("../escape"), "%2E%2E%2Fescape");
    await d.close();
    assert.deepEqual(await readdir(dir), []);
  });

  it("a dead key (untouched past the TTL) is invisible and can be taken over", async () => {
    const dir = await tempDir("sluice-file-kv-");
    dirs.push(dir);
    const a = await FileDiscovery.connect({ store: localDirectoryStore(dir), ttlMs: 60000 });
    const b = await FileDiscovery.connect({ store: localDirectoryStore(dir), ttlMs: 60000 });
    try {
      await a.register("v1/instances/k", { who: "a" });
      await a.halt();
      const old = new Date(Date.now() - 120000);
      await utimes(join(dir, encodeFileKey("v1/instances/k")), old, old);
      assert.deepEqual(await b.list("v1/instances/"), []);
      await b.register("v1/instances/k", { who: "b" });
      assert.deepEqual(await b.list("v1/instances/"), [
        { key: "v1/instances/k", value: { who: "b" } },
      ]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
