/**
 * A frontend and three workers over NATS (etcd discovery, migration off, so nothing hides a
 * failure): SIGTERM of a worker under load finishes its streams and sends it nothing new, with
 * zero client errors; a nats-server restart under load never hangs a stream and the system
 * recovers by itself; a client disconnect reaches the worker's engine signal within 100 ms.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Cluster, eventually, startCluster } from "./_cluster.ts";
import { FIRST_TOKEN, streamCompletion, streamProblems, type StreamResult } from "./_client.ts";
import { wallClockMs } from "../fixtures/counting_engine.ts";

const DELAY_MS = 20;
const MAX_TOKENS = 30;

let cluster: Cluster | undefined;
before(async () => {
  cluster = await startCluster({
    discovery: "etcd",
    workers: Array.from({ length: 3 }, () => ({ delayMs: DELAY_MS })),
  });
});
after(async () => {
  await cluster?.close();
});

describe("worker and server lifecycle under load", () => {
  it("SIGTERM: the worker unregisters, finishes its streams, gets nothing new; no client errors", async () => {
    const c = cluster!;
    const progress: number[] = [];
    const streams: Promise<StreamResult>[] = [];
    const open = (i: number) => {
      progress[i] = 0;
      streams.push(streamCompletion(c.url, FIRST_TOKEN + i, MAX_TOKENS, {
        onChunk: (_t, n) => (progress[i] = n),
      }));
    };
    for (let i = 0; i < 6; i++) open(i);
    await eventually("every stream under way", () => progress.every((n) => n >= 3), 20_000);
    const victim = c.workers.find((w) => {
      const done = new Set(w.process.events().filter((e) => e.event === "done").map((e) => e.id));
      return w.generated().some((id) => !done.has(id));
    });
    assert.ok(victim, "a worker with streams in flight");
    const inflight = victim.generated().length;
    const termAt = wallClockMs();
    victim.process.kill("SIGTERM");
    // Load continues: a new stream every 50 ms while the worker drains and exits.
    let goneAt = 0;
    const gone = eventually("the worker gone from /health", async () => {
      const ids = (await c.instances()).length;
      if (ids === 2 && goneAt === 0) goneAt = wallClockMs();
      return ids === 2;
    }, 5000);
    for (let i = 6; i < 30; i++) {
      open(i);
      await new Promise((r) => setTimeout(r, 50));
    }
    await gone;
    const code = await Promise.race([
      victim.process.exited,
      new Promise<string>((r) => setTimeout(() => r("still running"), 10_000)),
    ]);
    assert.equal(code, 0, `graceful exit code; stderr:\n${victim.process.stderr()}`);
    const results = await Promise.all(streams);
    for (const [i, r] of results.entries()) {
      assert.deepEqual(await streamProblems(r, FIRST_TOKEN + i, MAX_TOKENS), [], `stream ${i}`);
    }
    assert.ok(goneAt - termAt < 1500, `unregistered ${goneAt - termAt} ms after SIGTERM`);
    const late = victim.process.events().filter((e) =>
      e.event === "generate" && !e.canary && Number(e.at) > goneAt
    );
    assert.deepEqual(late, [], "nothing new after it left routing");
    const finished = victim.process.events().filter((e) =>
      e.event === "done" && e.finish === "length"
    );
    assert.ok(finished.length >= inflight, `its ${inflight} streams finished: ${finished.length}`);
    // Back to three workers for the next tests.
    c.addWorker({ delayMs: DELAY_MS });
    await c.waitReady(3);
  });

  it("nats-server restart under load: no stream hangs, later requests succeed", async () => {
    const c = cluster!;
    const progress = new Array<number>(6).fill(0);
    const streams = Array.from(
      { length: 6 },
      (_, i) =>
        streamCompletion(c.url, FIRST_TOKEN + 40 + i, MAX_TOKENS, {
          onChunk: (_t, n) => (progress[i] = n),
        }),
    );
    await eventually("every stream under way", () => progress.every((n) => n >= 3), 20_000);
    const t0 = performance.now();
    await c.nats.restart();
    const results = await Promise.all(streams);
    const ended = performance.now() - t0;
    assert.ok(ended < 15_000, `streams ended ${ended} ms after the restart`);
    for (const [i, r] of results.entries()) {
      // Each stream either completed exactly, or ended with a typed error frame and [DONE].
      if (r.error) {
        assert.ok(r.error.message && r.error.type && r.done, `stream ${i}: ${JSON.stringify(r)}`);
      } else {
        assert.deepEqual(
          await streamProblems(r, FIRST_TOKEN + 40 + i, MAX_TOKENS),
          [],
          `stream ${i}`,
        );
      }
    }
    // The system recovers by itself: requests succeed again, then all three workers serve.
    await eventually("a request succeeds after the restart", async () => {
      const r = await streamCompletion(c.url, FIRST_TOKEN + 80, 3);
      return (await streamProblems(r, FIRST_TOKEN + 80, 3)).length === 0;
    }, 20_000);
    await c.waitReady(3);
    const later = await Promise.all(
      Array.from({ length: 6 }, (_, i) => streamCompletion(c.url, FIRST_TOKEN + 90 + i, 10)),
    );
    for (const [i, r] of later.entries()) {
      assert.deepEqual(await streamProblems(r, FIRST_TOKEN + 90 + i, 10), [], `later ${i}`);
    }
  });

  it("a client disconnect fires the worker engine's signal within 100 ms", async () => {
    const c = cluster!;
    const controller = new AbortController();
    let abortedAt = 0;
    const result = streamCompletion(c.url, FIRST_TOKEN + 100, 60, {
      signal: controller.signal,
      onChunk: (_t, n) => {
        if (n === 3 && abortedAt === 0) {
          abortedAt = wallClockMs();
          controller.abort();
        }
      },
    });
    const r = await result;
    assert.ok(r.thrown, "the client aborted");
    assert.ok(abortedAt > 0);
    let signalAt = 0;
    await eventually("the engine's signal fired", () => {
      const fired = c.workers.flatMap((w) => w.process.events()).find((e) =>
        e.event === "signal" && Number(e.at) >= abortedAt - 1
      );
      signalAt = Number(fired?.at ?? 0);
      return fired !== undefined;
    }, 5000);
    const latency = signalAt - abortedAt;
    assert.ok(latency <= 100, `signal fired ${latency.toFixed(1)} ms after the disconnect`);
  });
});
