/** The coalescing SSE body: batching, the buffer bound, close and cancel. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SseBody } from "../../src/frontend/sse_body.ts";

describe("SseBody", () => {
  it("coalesces frames produced while the reader was away into one chunk", async () => {
    const body = new SseBody();
    const reader = body.readable.getReader();
    body.push("data: 1\n\n");
    body.push("data: 2\n\n");
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), "data: 1\n\ndata: 2\n\n");
    const pending = reader.read();
    body.push("data: 3\n\n");
    assert.equal(new TextDecoder().decode((await pending).value), "data: 3\n\n");
    body.close();
    assert.equal((await reader.read()).done, true);
  });

  it("is bounded: the producer waits until the reader drains", async () => {
    const body = new SseBody({ limit: 16 });
    body.push("data: 0123456789\n\n");
    assert.equal(body.full, true);
    let drained = false;
    const waiting = body.drained().then(() => (drained = true));
    await Promise.resolve();
    assert.equal(drained, false);
    const reader = body.readable.getReader();
    await reader.read();
    await waiting;
    assert.equal(body.full, false);
    body.close();
  });

  it("reports a cancel, wakes a waiting producer and drops later frames", async () => {
    let cancelled: unknown;
    const body = new SseBody({ limit: 4, onCancel: (reason) => (cancelled = reason) });
    body.push("data: x\n\n");
    const waiting = body.drained();
    await body.readable.cancel("client went away");
    await waiting;
    assert.equal(cancelled, "client went away");
    assert.equal(body.signal.aborted, true);
    body.push("data: y\n\n");
    assert.equal(body.full, false);
  });
});
