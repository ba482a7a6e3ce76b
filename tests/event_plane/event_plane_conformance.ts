/**
 * The shared event-plane suite: every `EventPlane` runs it.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { EventPlane } from "../../src/entries/planes.ts";
import { isSluiceError } from "../../mod.ts";

/** Two handles onto one bus (two "processes"); `close` tears it down. */
export interface EventPlaneHarness {
  publisher: EventPlane;
  subscriber: EventPlane;
  /** Resolves once subscriptions made so far are active on the server (no-op in process). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/** Registers the suite for one implementation. */
export function eventPlaneConformance(
  name: string,
  makeHarness: () => Promise<EventPlaneHarness>,
): void {
  describe(`${name} event plane (shared suite)`, () => {
    it("delivers events in order to matching subscribers, with wildcards", async () => {
      const h = await makeHarness();
      try {
        const exact = h.subscriber.subscribe<{ n: number }>("ns.backend.kv-events");
        const star = h.subscriber.subscribe<{ n: number }>("ns.*.kv-events");
        const tail = h.subscriber.subscribe<{ n: number }>("ns.>");
        await h.settle();
        for (let n = 0; n < 5; n++) await h.publisher.publish("ns.backend.kv-events", { n });
        await h.publisher.publish("other.backend.kv-events", { n: 99 });
        for (const sub of [exact, star, tail]) {
          const got: number[] = [];
          for await (const event of sub) {
            got.push(event.n);
            if (got.length === 5) break;
          }
          assert.deepEqual(got, [0, 1, 2, 3, 4]);
        }
      } finally {
        await h.close();
      }
    });

    it("a subscriber that falls behind fails loudly instead of losing events silently", async () => {
      const h = await makeHarness();
      try {
        const sub = h.subscriber.subscribe<{ n: number }>("ns.backend.load-metrics", {
          highWaterMark: 8,
        });
        await h.settle();
        for (let n = 0; n < 100; n++) await h.publisher.publish("ns.backend.load-metrics", { n });
        const got: number[] = [];
        await assert.rejects(async () => {
          for await (const event of sub) got.push(event.n);
        }, (e: unknown) => isSluiceError(e, "Disconnected"));
        assert.deepEqual(got, got.map((_, i) => i), "what arrived is a gap-free prefix");
      } finally {
        await h.close();
      }
    });

    it("an aborted signal or close() ends the subscription", async () => {
      const h = await makeHarness();
      try {
        const controller = new AbortController();
        const sub = h.subscriber.subscribe("ns.x", { signal: controller.signal });
        await h.settle();
        controller.abort();
        assert.equal((await sub[Symbol.asyncIterator]().next()).done, true);
        const other = h.subscriber.subscribe("ns.y");
        await h.subscriber.close();
        assert.equal((await other[Symbol.asyncIterator]().next()).done, true);
      } finally {
        await h.close();
      }
    });
  });
}
