/**
 * The NATS request plane against a real nats-server, over TCP and WebSocket:
 * the shared suite, plus queue groups, the connector, and a server restart.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { GenerateChunk } from "../../mod.ts";
import type { RequestPlane } from "../../src/entries/planes.ts";
import { connectPlanes } from "../../src/entries/planes.ts";
import { isSluiceError } from "../../mod.ts";
import { connectNats } from "../../src/wire/nats_connection.ts";
import { NatsTransport } from "../../src/wire/nats_transport.ts";
import { WireRequestPlane } from "../../src/request_plane/wire_request_plane.ts";
import { connectNatsRequestPlane } from "../../src/request_plane/nats_request_plane.ts";
import { type NatsServer, startNatsServer } from "../support/nats_server.ts";
import { requestPlaneConformance } from "./request_plane_conformance.ts";

let nats: NatsServer;
before(async () => {
  nats = await startNatsServer();
});
after(async () => {
  await nats.stop();
});

async function plane(url: string): Promise<{ plane: WireRequestPlane; transport: NatsTransport }> {
  const transport = new NatsTransport(await connectNats([url], { reconnectWaitMs: 50 }));
  const plane = new WireRequestPlane({
    kind: "nats",
    addressKey: "nats",
    transport,
    heartbeatMs: 100,
  });
  return { plane, transport };
}

for (const transport of ["tcp", "ws"] as const) {
  const url = () => (transport === "tcp" ? nats.url : nats.wsUrl);
  requestPlaneConformance(`NATS ${transport}`, async () => {
    const server = await plane(url());
    const client = await plane(url());
    return {
      server: server.plane,
      client: client.plane,
      maxRequestBytes: client.transport.maxPayload,
      // A crash: the connection drops without the plane sending anything.
      crashServer: () => server.transport.connection.close(),
      crashClient: () => client.transport.connection.close(),
      close: async () => {
        await client.plane.close();
        await server.plane.close();
      },
    };
  });
}

const ENDPOINT = { namespace: "test", component: "backend", endpoint: "generate" };

function counting(n: number, delayMs = 0): ReadableStream<GenerateChunk> {
  let i = 0;
  return new ReadableStream<GenerateChunk>({
    async pull(controller) {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      i++;
      controller.enqueue({
        token_ids: [i],
        index: 0,
        ...(i === n ? { finish_reason: "length" } : {}),
      });
      if (i === n) controller.close();
    },
  }, { highWaterMark: 0 });
}

async function collect(plane: RequestPlane, address: { nats: string }): Promise<number[]> {
  const got: number[] = [];
  for await (const chunk of await plane.call(address, {})) got.push(...chunk.token_ids);
  return got;
}

describe("NATS request plane", () => {
  it("the queue-group subject spreads requests over every instance of an endpoint", async () => {
    const a = await plane(nats.url);
    const b = await plane(nats.url);
    const client = await plane(nats.url);
    try {
      const seen: string[] = [];
      await a.plane.serve({ ...ENDPOINT, instanceId: "1" }, () => {
        seen.push("a");
        return Promise.resolve(counting(2));
      });
      await b.plane.serve({ ...ENDPOINT, instanceId: "2" }, () => {
        seen.push("b");
        return Promise.resolve(counting(2));
      });
      for (let i = 0; i < 20; i++) {
        assert.deepEqual(await collect(client.plane, { nats: "test.backend.generate" }), [1, 2]);
      }
      assert.ok(seen.includes("a") && seen.includes("b"), `both served: ${seen.join("")}`);
      // The per-instance subject reaches exactly that instance.
      seen.length = 0;
      await collect(client.plane, { nats: "test.backend.generate-2" });
      assert.deepEqual(seen, ["b"]);
    } finally {
      await client.plane.close();
      await a.plane.close();
      await b.plane.close();
    }
  });

  it("connectPlanes connects `nats` planes from NATS_SERVER, and names the address when it cannot", async () => {
    const planes = await connectPlanes(
      { discovery_backend: "memory", request_plane: "nats", event_plane: "nats" },
      (name) => (name === "NATS_SERVER" ? nats.wsUrl : undefined),
    );
    try {
      assert.equal(planes.requestPlane.kind, "nats");
      assert.equal(planes.eventPlane.kind, "nats");
      const served = await planes.requestPlane.serve(
        { ...ENDPOINT, instanceId: "3" },
        () => Promise.resolve(counting(3)),
      );
      assert.deepEqual(served.address, { nats: "test.backend.generate-3" });
      assert.deepEqual(await collect(planes.requestPlane, served.address as { nats: string }), [
        1,
        2,
        3,
      ]);
    } finally {
      await planes.requestPlane.close();
      await planes.eventPlane.close();
      await planes.discovery.close();
    }
    await assert.rejects(
      connectNatsRequestPlane(() => "nats://127.0.0.1:1", { timeoutMs: 500 }),
      (e: unknown) => isSluiceError(e, "CannotConnect") && /127\.0\.0\.1:1/.test(e.message),
    );
    await assert.rejects(
      connectNatsRequestPlane(() => "http://127.0.0.1:4222"),
      (e: unknown) => isSluiceError(e, "InvalidArgument"),
    );
  });

  for (const transport of ["tcp", "ws"] as const) {
    it(`a nats-server restart fails only the requests in flight, typed, and the plane recovers (${transport})`, async () => {
      const url = transport === "tcp" ? nats.url : nats.wsUrl;
      const server = await plane(url);
      const client = await plane(url);
      try {
        const served = await server.plane.serve(
          { ...ENDPOINT, instanceId: "9" },
          () => Promise.resolve(counting(1_000_000, 2)),
        );
        const streams = await Promise.all(
          Array.from({ length: 5 }, () => client.plane.call(served.address, {})),
        );
        const outcomes = streams.map(async (stream) => {
          try {
            for await (const _ of stream) { /* drain */ }
            return "ended";
          } catch (error) {
            return isSluiceError(error) ? error.kind : String(error);
          }
        });
        // And one call the worker has not accepted yet (its handler waits for the signal).
        let pendingSignal: AbortSignal | undefined;
        const slow = await server.plane.serve({ ...ENDPOINT, instanceId: "11" }, (req) => {
          pendingSignal = req.signal;
          return new Promise((_, reject) =>
            req.signal.addEventListener("abort", () => reject(req.signal.reason), { once: true })
          );
        });
        const pending = client.plane.call(slow.address, {}).then(
          () => "accepted",
          (error) => (isSluiceError(error) ? error.kind : String(error)),
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.ok(pendingSignal !== undefined, "the slow handler is running");
        const started = performance.now();
        await nats.restart();
        const results = await Promise.all(outcomes);
        assert.deepEqual(results, Array(5).fill("Disconnected"));
        assert.equal(await pending, "Disconnected");
        assert.equal(pendingSignal?.aborted, true, "the worker gave up the pending request too");
        assert.ok(performance.now() - started < 5000, "no request hangs");
        // After the reconnect, new requests succeed on both sides without any restart.
        const finite = await server.plane.serve(
          { ...ENDPOINT, instanceId: "10" },
          () => Promise.resolve(counting(3)),
        );
        const deadline = performance.now() + 10_000;
        for (;;) {
          try {
            assert.deepEqual(await collect(client.plane, finite.address as { nats: string }), [
              1,
              2,
              3,
            ]);
            break;
          } catch (error) {
            if (performance.now() > deadline) throw error;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
      } finally {
        await client.plane.close();
        await server.plane.close();
      }
    });
  }
});
