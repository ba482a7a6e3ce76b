/** The NATS event plane against a real nats-server, over TCP and WebSocket. */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { isSluiceError } from "../../mod.ts";
import { kvEventsSubject, loadMetricsSubject } from "../../src/entries/planes.ts";
import { connectNatsEventPlane, NatsEventPlane } from "../../src/event_plane/nats_event_plane.ts";
import { connectNats } from "../../src/wire/nats_connection.ts";
import { type NatsServer, startNatsServer } from "../support/nats_server.ts";
import { eventPlaneConformance } from "./event_plane_conformance.ts";

let nats: NatsServer;
before(async () => {
  nats = await startNatsServer();
});
after(async () => {
  await nats.stop();
});

for (const transport of ["tcp", "ws"] as const) {
  eventPlaneConformance(`NATS ${transport}`, async () => {
    const url = transport === "tcp" ? nats.url : nats.wsUrl;
    const publisher = await connectNatsEventPlane(() => url);
    const subscriber = await connectNatsEventPlane(() => url);
    return {
      publisher,
      subscriber,
      settle: async () => {
        await subscriber.settle();
        await publisher.settle();
      },
      close: async () => {
        await publisher.close();
        await subscriber.close();
      },
    };
  });
}

describe("NATS event plane", () => {
  it("carries KV events and load metrics on the PLANES.md subjects between connections", async () => {
    const publisher = await connectNatsEventPlane(() => nats.url);
    const subscriber = await connectNatsEventPlane(() => nats.wsUrl);
    try {
      assert.equal(kvEventsSubject("dynamo", "backend"), "dynamo.backend.kv-events");
      const kv = subscriber.subscribe<{ event_id: number }>("dynamo.backend.kv-events");
      const load = subscriber.subscribe<{ kv_used_blocks: number }>(
        loadMetricsSubject("dynamo", "backend"),
      );
      await subscriber.settle();
      const event = {
        event_id: 1,
        worker_id: "ff",
        dp_rank: 0,
        data: { stored: { parent_hash: null, blocks: [{ block_hash: "1", tokens_hash: "2" }] } },
      };
      await publisher.publish(kvEventsSubject("dynamo", "backend"), event);
      await publisher.publish(loadMetricsSubject("dynamo", "backend"), { kv_used_blocks: 3 });
      assert.deepEqual((await kv[Symbol.asyncIterator]().next()).value, event);
      assert.equal((await load[Symbol.asyncIterator]().next()).value?.kv_used_blocks, 3);
    } finally {
      await publisher.close();
      await subscriber.close();
    }
  });

  it("a lost connection fails subscriptions with Disconnected; new ones work after reconnect", async () => {
    const connection = await connectNats([nats.url], { reconnectWaitMs: 50 });
    const plane = new NatsEventPlane(connection);
    try {
      const sub = plane.subscribe("ns.x");
      await plane.settle();
      await nats.restart();
      await assert.rejects(async () => {
        for await (const _ of sub) { /* nothing arrives */ }
      }, (e: unknown) => isSluiceError(e, "Disconnected"));
      const deadline = performance.now() + 10_000;
      for (;;) {
        const again = plane.subscribe<{ n: number }>("ns.y");
        try {
          await plane.settle();
          await plane.publish("ns.y", { n: 1 });
          const first = await Promise.race([
            again[Symbol.asyncIterator]().next(),
            new Promise<undefined>((resolve) => setTimeout(resolve, 500)),
          ]);
          if (first?.value?.n === 1) break;
        } catch {
          // still reconnecting
        } finally {
          await again.close();
        }
        if (performance.now() > deadline) throw new Error("no event after reconnect in 10 s");
      }
    } finally {
      await plane.close();
    }
  });
});
