/**
 * A frontend on NATS over WebSocket (`ws://`) with one worker under the test's runtime on NATS
 * over TCP and one under Bun on NATS over WebSocket (NATS-KV discovery), every process tracing
 * through tests/fixtures/traced_cli.ts: requests cross WebSocket and TCP and both runtimes exactly;
 * the worker's `engine.generate` span is a child of the frontend's request span in another
 * process, in the client's trace; a Bun worker killed mid-stream migrates its streams.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Cluster, eventually, startCluster } from "./_cluster.ts";
import { FIRST_TOKEN, streamCompletion, streamProblems } from "./_client.ts";
import type { SpanLine } from "../fixtures/traced_cli.ts";

const CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN = "00f067aa0ba902b7";
const spans = join(tmpdir(), `sluice-spans-${crypto.randomUUID()}.jsonl`);

let cluster: Cluster | undefined;
before(async () => {
  const env = { SLUICE_TEST_SPANS: spans };
  cluster = await startCluster({
    discovery: "nats",
    frontendTransport: "ws",
    traced: true,
    frontendEnv: env,
    workers: [
      { migrationLimit: 3, delayMs: 20, traced: true, env },
      { migrationLimit: 3, delayMs: 20, traced: true, env, runtime: "bun", transport: "ws" },
    ],
  });
});
after(async () => {
  await cluster?.close();
  await rm(spans, { force: true });
});

describe("WebSocket frontend, workers on two runtimes, tracing across processes", () => {
  it("serves exact streams from both workers through a ws:// frontend", async () => {
    const c = cluster!;
    const before = c.workers.map((w) => w.generated().length);
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => streamCompletion(c.url, FIRST_TOKEN + i, 10)),
    );
    for (const [i, r] of results.entries()) {
      assert.deepEqual(await streamProblems(r, FIRST_TOKEN + i, 10), [], `stream ${i}`);
    }
    const served = c.workers.map((w, i) => w.generated().length - before[i]);
    assert.ok(served.every((n) => n >= 1), `both workers served: ${served}`);
  });

  it("links the worker's engine.generate span to the frontend's span in another process", async () => {
    const c = cluster!;
    const r = await streamCompletion(c.url, FIRST_TOKEN + 20, 3, {
      headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
    });
    assert.deepEqual(await streamProblems(r, FIRST_TOKEN + 20, 3), []);
    let lines: SpanLine[] = [];
    await eventually("both spans written", async () => {
      const text = await readFile(spans, "utf8").catch(() => "");
      lines = text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as SpanLine)
        .filter((s) => s.traceId === CLIENT_TRACE);
      return lines.some((s) => s.name === "engine.generate") &&
        lines.some((s) => s.parentSpanId === CLIENT_SPAN);
    }, 10_000);
    const frontend = lines.find((s) => s.parentSpanId === CLIENT_SPAN)!;
    const worker = lines.find((s) => s.name === "engine.generate")!;
    assert.equal(frontend.pid, c.frontend.pid, "the frontend's span comes from its process");
    assert.notEqual(worker.pid, frontend.pid, "the engine span comes from a worker process");
    assert.equal(worker.parentSpanId, frontend.spanId, JSON.stringify(lines));
  });

  it("migrates the streams of a Bun worker killed mid-stream", async () => {
    const c = cluster!;
    const bun = c.workers.find((w) => w.spec.runtime === "bun")!;
    const progress = new Array<number>(4).fill(0);
    const streams = Array.from(
      { length: 4 },
      (_, i) =>
        streamCompletion(c.url, FIRST_TOKEN + 40 + i, 30, {
          onChunk: (_t, n) => (progress[i] = n),
        }),
    );
    await eventually("every stream under way", () => progress.every((n) => n >= 5), 20_000);
    assert.ok(bun.generated().length > 0);
    bun.process.kill("SIGKILL");
    for (const [i, r] of (await Promise.all(streams)).entries()) {
      assert.deepEqual(await streamProblems(r, FIRST_TOKEN + 40 + i, 30), [], `stream ${i}`);
    }
  });
});
