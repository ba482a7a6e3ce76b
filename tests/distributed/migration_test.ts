/**
 * A frontend process and worker processes over NATS, once per discovery backend (etcd,
 * NATS KV, file): requests spread over three workers; `kill -9` of a worker mid-stream is
 * invisible to clients with migration on (every stream has exactly the expected tokens and
 * usage counts the original prompt), fails fast with a typed error with migration off, and
 * the dead worker leaves routing within the liveness TTL.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type Cluster,
  type ClusterWorker,
  eventually,
  startCluster,
  TTL_SECS,
} from "./_cluster.ts";
import { FIRST_TOKEN, streamCompletion, streamProblems, type StreamResult } from "./_client.ts";

const MAX_TOKENS = 30;
const DELAY_MS = 20;
/**
 * How soon a frontend must notice a worker killed with SIGKILL: the request plane's
 * heartbeat is 1 s and three missed ones mean `Disconnected` (src/request_plane), plus slack
 * for a loaded CI machine. A stream without migration must end within this, never hang.
 */
const DETECT_MS = 3 * 1000 + 2000;

/** Starts `count` streams of `model`, prompts FIRST_TOKEN + offset + i. */
function startStreams(
  cluster: Cluster,
  count: number,
  offset: number,
  model = "counting",
  maxTokens = MAX_TOKENS,
) {
  const progress = new Array<number>(count).fill(0);
  const results = Array.from(
    { length: count },
    (_, i) =>
      streamCompletion(cluster.url, FIRST_TOKEN + offset + i, maxTokens, {
        model,
        onChunk: (_text, chunks) => (progress[i] = chunks),
      }),
  );
  return { progress, results: Promise.all(results) };
}

/** The worker whose engine has a non-canary request started and not finished. */
function busyWorker(workers: ClusterWorker[]): ClusterWorker | undefined {
  return workers.find((w) => {
    const events = w.process.events();
    const done = new Set(events.filter((e) => e.event === "done").map((e) => e.id));
    return events.some((e) => e.event === "generate" && !e.canary && !done.has(e.id));
  });
}

for (const backend of ["etcd", "nats", "file"] as const) {
  describe(`frontend + workers over NATS, ${backend} discovery`, () => {
    let cluster: Cluster | undefined;
    before(async () => {
      cluster = await startCluster({
        discovery: backend,
        workers: [
          ...Array.from({ length: 3 }, () => ({ migrationLimit: 3, delayMs: DELAY_MS })),
          { model: "counting-nomig", migrationLimit: 0, delayMs: DELAY_MS },
        ],
      });
    });
    after(async () => {
      await cluster?.close();
    });

    it("spreads requests over the three workers", async () => {
      const c = cluster!;
      const workers = c.workers.filter((w) => (w.spec.model ?? "counting") === "counting");
      const before = workers.map((w) => w.generated().length);
      const { results } = startStreams(c, 6, 0);
      for (const [i, r] of (await results).entries()) {
        assert.deepEqual(await streamProblems(r, FIRST_TOKEN + i, MAX_TOKENS), [], `stream ${i}`);
      }
      const served = workers.map((w, i) => w.generated().length - before[i]);
      assert.equal(served.reduce((a, b) => a + b), 6, `served ${served}`);
      assert.ok(served.every((n) => n >= 1), `every worker served some: ${served}`);
    });

    it("migrates the streams of a worker killed with SIGKILL: exact tokens, original usage", async () => {
      const c = cluster!;
      const workers = c.workers.filter((w) => (w.spec.model ?? "counting") === "counting");
      const { progress, results } = startStreams(c, 6, 10);
      await eventually("every stream under way", () => progress.every((n) => n >= 5), 20_000);
      const victim = busyWorker(workers);
      assert.ok(victim, "a worker with streams in flight");
      victim.process.kill("SIGKILL");
      // The dead worker must leave the frontend's routing set within its liveness TTL
      // (plus slack for polling and a loaded machine): watched while the streams migrate.
      const gone = eventually(
        "the killed worker gone from /health",
        async () => (await c.instances()).length === 2,
        TTL_SECS * 1000 + 3000,
      );
      gone.catch(() => {}); // awaited below
      const all = await results;
      for (const [i, r] of all.entries()) {
        assert.deepEqual(
          await streamProblems(r, FIRST_TOKEN + 10 + i, MAX_TOKENS),
          [],
          `stream ${i}`,
        );
      }
      await gone;
      // Later requests go to the two live workers and succeed.
      const { results: later } = startStreams(c, 4, 20);
      for (const [i, r] of (await later).entries()) {
        assert.deepEqual(
          await streamProblems(r, FIRST_TOKEN + 20 + i, MAX_TOKENS),
          [],
          `later ${i}`,
        );
      }
    });

    it("fails the streams of a killed worker fast with a typed error when migration is off", async () => {
      const c = cluster!;
      const [worker] = c.workers.filter((w) => w.spec.model === "counting-nomig");
      // Long streams (200 tokens, 4 s) so that they are still running when the loss is noticed.
      const { progress, results } = startStreams(c, 3, 40, "counting-nomig", 200);
      await eventually("every stream under way", () => progress.every((n) => n >= 3), 20_000);
      worker.process.kill("SIGKILL");
      const killedAt = performance.now();
      const all: StreamResult[] = await results;
      const elapsed = performance.now() - killedAt;
      assert.ok(elapsed < DETECT_MS, `streams ended ${elapsed} ms after the kill`);
      for (const [i, r] of all.entries()) {
        assert.equal(r.status, 200, `stream ${i} started`);
        assert.equal(r.thrown, undefined, `stream ${i} ends cleanly`);
        assert.ok(r.error, `stream ${i} has an error frame: ${JSON.stringify(r)}`);
        assert.ok(r.error.message && r.error.type, `typed error: ${JSON.stringify(r.error)}`);
        assert.equal(r.error.code, "Disconnected", JSON.stringify(r.error));
        assert.ok(r.done, `stream ${i} ends with [DONE]`);
        assert.ok(r.chunks < 200, `stream ${i} was cut short`);
      }
      // A request after that, with no worker left for the model, is a 5xx/404 OpenAI body,
      // never a hang.
      const r = await streamCompletion(c.url, FIRST_TOKEN + 50, 5, { model: "counting-nomig" });
      assert.ok(r.status >= 400 || r.error, `no worker left: ${JSON.stringify(r)}`);
      assert.ok(r.error?.message, JSON.stringify(r));
    });
  });
}
