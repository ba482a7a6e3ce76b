/**
 * The shared discovery suite: every `Discovery` implementation runs it with a
 * factory that makes handles sharing one key space (one per "process").
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Discovery, DiscoveryEvent } from "../../src/entries/planes.ts";

/** Makes a new handle onto the same backing store; `close` tears the store down. */
export interface DiscoveryHarness {
  connect(): Promise<Discovery>;
  close?(): Promise<void>;
  /**
   * Liveness (remote backends): makes `d` stop heart-beating without unregistering, as a
   * crashed process would. Backends without per-process liveness (memory) leave it out.
   */
  crash?(d: Discovery): Promise<void>;
  /** How long a crashed handle's keys may survive (its TTL plus sweeping slack). */
  livenessMs?: number;
}

async function nextEvent<V>(
  it: AsyncIterator<DiscoveryEvent<V>>,
  ms = 5000,
): Promise<DiscoveryEvent<V>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const result = await Promise.race([
      it.next(),
      new Promise<never>((
        _,
        reject,
      ) => (timer = setTimeout(() => reject(new Error(`no event in ${ms} ms`)), ms))),
    ]);
    assert.ok(!result.done, "watch ended early");
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}

/** Registers the suite for one implementation. */
export function discoveryConformance(
  name: string,
  makeHarness: () => Promise<DiscoveryHarness>,
): void {
  describe(`${name} discovery (shared suite)`, () => {
    it("registers, lists by prefix sorted by key, and unregisters", async () => {
      const h = await makeHarness();
      const d = await h.connect();
      try {
        await d.register("v1/instances/ns/c/e/b", { n: 2 });
        await d.register("v1/instances/ns/c/e/a", { n: 1 });
        await d.register("v1/mdc/ns/c/e/a", { card: true });
        const listed = await d.list<{ n: number }>("v1/instances/");
        assert.deepEqual(listed.map((e) => [e.key, e.value.n]), [["v1/instances/ns/c/e/a", 1], [
          "v1/instances/ns/c/e/b",
          2,
        ]]);
        await d.unregister("v1/instances/ns/c/e/a");
        assert.deepEqual((await d.list("v1/instances/")).map((e) => e.key), [
          "v1/instances/ns/c/e/b",
        ]);
        await d.unregister("v1/instances/never-registered");
      } finally {
        await d.close();
        await h.close?.();
      }
    });

    it("keeps 64-bit ids exact (values are JSON, ids are strings)", async () => {
      const h = await makeHarness();
      const d = await h.connect();
      try {
        const id = "18446744073709551557";
        await d.register(`v1/instances/ns/c/e/${BigInt(id).toString(16)}`, { instance_id: id });
        const [entry] = await d.list<{ instance_id: string }>("v1/instances/");
        assert.equal(entry.value.instance_id, id);
      } finally {
        await d.close();
        await h.close?.();
      }
    });

    it("watch yields a snapshot, then added and removed events from another handle, in order", async () => {
      const h = await makeHarness();
      const a = await h.connect();
      const b = await h.connect();
      try {
        await a.register("v1/instances/x/1", { id: 1 });
        const watch = b.watch<{ id: number }>("v1/instances/");
        const it = watch[Symbol.asyncIterator]();
        const snapshot = await nextEvent(it);
        assert.equal(snapshot.type, "snapshot");
        assert.deepEqual(snapshot.type === "snapshot" && snapshot.entries.map((e) => e.key), [
          "v1/instances/x/1",
        ]);
        await a.register("v1/instances/x/2", { id: 2 });
        await a.register("v1/other/ignored", { id: 9 });
        await a.unregister("v1/instances/x/1");
        const added = await nextEvent(it);
        assert.deepEqual(added, {
          type: "added",
          entry: { key: "v1/instances/x/2", value: { id: 2 } },
        });
        assert.deepEqual(await nextEvent(it), { type: "removed", key: "v1/instances/x/1" });
        await watch.close();
        assert.equal((await it.next()).done, true);
      } finally {
        await a.close();
        await b.close();
        await h.close?.();
      }
    });

    it("close() removes everything that handle registered, visible to watchers", async () => {
      const h = await makeHarness();
      const a = await h.connect();
      const b = await h.connect();
      try {
        const controller = new AbortController();
        const it = b.watch("v1/instances/", { signal: controller.signal })[Symbol.asyncIterator]();
        assert.equal((await nextEvent(it)).type, "snapshot");
        await a.register("v1/instances/p/1", {});
        assert.equal((await nextEvent(it)).type, "added");
        await a.close();
        assert.deepEqual(await nextEvent(it), { type: "removed", key: "v1/instances/p/1" });
        assert.deepEqual(await b.list("v1/instances/"), []);
        controller.abort();
        assert.equal((await it.next()).done, true);
      } finally {
        await b.close();
        await h.close?.();
      }
    });

    it("a slow watcher loses no events (back-pressure, not drops)", async () => {
      const h = await makeHarness();
      const a = await h.connect();
      const b = await h.connect();
      try {
        const watch = b.watch("v1/instances/", { highWaterMark: 4 });
        const it = watch[Symbol.asyncIterator]();
        assert.equal((await nextEvent(it)).type, "snapshot");
        const writes = (async () => {
          for (let i = 0; i < 50; i++) {
            await a.register(`v1/instances/s/${String(i).padStart(2, "0")}`, { i });
          }
        })();
        const seen: string[] = [];
        while (seen.length < 50) {
          const event = await nextEvent(it);
          if (event.type === "added") seen.push(event.entry.key);
        }
        await writes;
        assert.deepEqual(
          seen,
          Array.from({ length: 50 }, (_, i) => `v1/instances/s/${String(i).padStart(2, "0")}`),
        );
        await watch.close();
      } finally {
        await a.close();
        await b.close();
        await h.close?.();
      }
    });

    it("registering again updates the value: watchers see `added` with the new value", async () => {
      const h = await makeHarness();
      const a = await h.connect();
      const b = await h.connect();
      try {
        await a.register("v1/instances/u/1", { ready: true });
        const watch = b.watch<{ ready: boolean }>("v1/instances/");
        const it = watch[Symbol.asyncIterator]();
        const snapshot = await nextEvent(it);
        assert.deepEqual(snapshot.type === "snapshot" && snapshot.entries, [
          { key: "v1/instances/u/1", value: { ready: true } },
        ]);
        await a.register("v1/instances/u/1", { ready: false });
        assert.deepEqual(await nextEvent(it), {
          type: "added",
          entry: { key: "v1/instances/u/1", value: { ready: false } },
        });
        assert.deepEqual(await b.list("v1/instances/"), [
          { key: "v1/instances/u/1", value: { ready: false } },
        ]);
        await watch.close();
      } finally {
        await a.close();
        await b.close();
        await h.close?.();
      }
    });

    it("a key another handle owns cannot be registered (InvalidArgument)", async () => {
      const h = await makeHarness();
      const a = await h.connect();
      const b = await h.connect();
      try {
        await a.register("v1/instances/o/1", { who: "a" });
        await assert.rejects(
          b.register("v1/instances/o/1", { who: "b" }),
          (e: unknown) => (e as { kind?: string }).kind === "InvalidArgument",
        );
        await b.unregister("v1/instances/o/1");
        assert.deepEqual(await a.list("v1/instances/"), [
          { key: "v1/instances/o/1", value: { who: "a" } },
        ]);
      } finally {
        await a.close();
        await b.close();
        await h.close?.();
      }
    });

    it("a watch closed by its signal before the first event ends cleanly", async () => {
      const h = await makeHarness();
      const d = await h.connect();
      try {
        const controller = new AbortController();
        controller.abort();
        const it = d.watch("v1/instances/", { signal: controller.signal })[Symbol.asyncIterator]();
        for (let i = 0; i < 2; i++) {
          const r = await it.next();
          if (r.done) break;
          assert.equal(r.value.type, "snapshot");
        }
        assert.equal((await it.next()).done, true);
      } finally {
        await d.close();
        await h.close?.();
      }
    });

    it("a snapshot holds every key (300), and list agrees", async () => {
      const h = await makeHarness();
      const a = await h.connect();
      const b = await h.connect();
      try {
        const keys = Array.from(
          { length: 300 },
          (_, i) => `v1/instances/many/${String(i).padStart(3, "0")}`,
        );
        for (let i = 0; i < keys.length; i += 50) {
          await Promise.all(keys.slice(i, i + 50).map((k) => a.register(k, { k })));
        }
        const watch = b.watch<{ k: string }>("v1/instances/many/");
        const snapshot = await nextEvent(watch[Symbol.asyncIterator]());
        assert.equal(snapshot.type, "snapshot");
        assert.deepEqual(
          snapshot.type === "snapshot" && snapshot.entries.map((e) => e.value.k),
          keys,
        );
        assert.deepEqual((await b.list("v1/instances/many/")).map((e) => e.key), keys);
        await watch.close();
      } finally {
        await a.close();
        await b.close();
        await h.close?.();
      }
    });

    it("operations after close fail with CannotConnect", async () => {
      const h = await makeHarness();
      const d = await h.connect();
      await d.close();
      await d.close();
      await assert.rejects(
        d.register("v1/instances/z", {}),
        (e: unknown) => (e as { kind?: string }).kind === "CannotConnect",
      );
      await h.close?.();
    });
  });
}

/** The liveness part of the suite, for backends with per-process liveness. */
export function discoveryLivenessConformance(
  name: string,
  makeHarness: () => Promise<DiscoveryHarness & Required<Pick<DiscoveryHarness, "crash">>>,
): void {
  describe(`${name} discovery liveness (shared suite)`, () => {
    it("a crashed handle's keys vanish within the TTL; watchers see them removed", async () => {
      const h = await makeHarness();
      const a = await h.connect();
      const b = await h.connect();
      const live = await h.connect();
      try {
        await a.register("v1/instances/c/dead", { id: 1 });
        await live.register("v1/instances/c/live", { id: 2 });
        const watch = b.watch("v1/instances/");
        const it = watch[Symbol.asyncIterator]();
        const snapshot = await nextEvent(it);
        assert.equal(snapshot.type === "snapshot" && snapshot.entries.length, 2);
        const t0 = performance.now();
        await h.crash(a);
        const limit = h.livenessMs ?? 10000;
        assert.deepEqual(await nextEvent(it, limit + 5000), {
          type: "removed",
          key: "v1/instances/c/dead",
        });
        const took = performance.now() - t0;
        assert.ok(took <= limit + 1000, `expired after ${took} ms, limit ${limit} ms`);
        // The live handle keeps its key well past the TTL (its heartbeats work).
        assert.deepEqual((await b.list("v1/instances/")).map((e) => e.key), [
          "v1/instances/c/live",
        ]);
        await watch.close();
      } finally {
        await a.close();
        await b.close();
        await live.close();
        await h.close?.();
      }
    });
  });
}
