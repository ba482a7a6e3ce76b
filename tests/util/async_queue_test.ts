import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AsyncQueue } from "../../src/util/async_queue.ts";

describe("AsyncQueue", () => {
  it("makes producers wait while full and releases them as the consumer reads", async () => {
    const q = new AsyncQueue<number>(2);
    await q.push(1);
    await q.push(2);
    let third = false;
    const pending = q.push(3).then(() => (third = true));
    await Promise.resolve();
    assert.equal(third, false);
    assert.equal(q.tryPush(4), false);
    assert.deepEqual(await q.next(), { done: false, value: 1 });
    await pending;
    assert.equal(third, true);
    q.close();
    const rest = [];
    for await (const x of q) rest.push(x);
    assert.deepEqual(rest, [2, 3]);
  });

  it("fail() delivers buffered items, then throws", async () => {
    const q = new AsyncQueue<number>(4);
    q.tryPush(1);
    q.fail(new Error("boom"));
    assert.deepEqual(await q.next(), { done: false, value: 1 });
    await assert.rejects(q.next(), /boom/);
  });

  it("a push into a closed queue is a TypeError; capacity must be positive", async () => {
    const q = new AsyncQueue<number>(1);
    q.close();
    await assert.rejects(q.push(1), TypeError);
    assert.throws(() => new AsyncQueue(0), RangeError);
  });

  it("a waiting producer is released when the consumer closes", async () => {
    const q = new AsyncQueue<number>(1);
    q.tryPush(1);
    const blocked = q.push(2);
    await q[Symbol.asyncIterator]().return!();
    await assert.rejects(blocked, TypeError);
  });
});
