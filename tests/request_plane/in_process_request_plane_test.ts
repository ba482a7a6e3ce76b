import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { GenerateChunk } from "../../mod.ts";
import { InProcessRequestPlane } from "../../src/entries/planes.ts";
import { MemoryBus } from "../../src/wire/memory_transport.ts";
import { requestPlaneConformance } from "./request_plane_conformance.ts";

requestPlaneConformance("in-process", () => {
  const plane = new InProcessRequestPlane();
  return Promise.resolve({ server: plane, client: plane, close: () => plane.close() });
});

requestPlaneConformance("in-process strict", () => {
  const bus = new MemoryBus({ maxPayload: 64 * 1024 });
  const serverConnection = bus.connect();
  const clientConnection = bus.connect();
  const options = { strict: true, heartbeatMs: 50 };
  const server = new InProcessRequestPlane({ ...options, connection: serverConnection });
  const client = new InProcessRequestPlane({ ...options, connection: clientConnection });
  return Promise.resolve({
    server,
    client,
    maxRequestBytes: bus.maxPayload,
    crashServer: () => Promise.resolve(serverConnection.sever()),
    crashClient: () => Promise.resolve(clientConnection.sever()),
    close: async () => {
      await client.close();
      await server.close();
    },
  });
});

describe("in-process request plane", () => {
  it("reading `readable` directly releases the caller's signal listener at the end", async () => {
    const plane = new InProcessRequestPlane();
    const served = await plane.serve(
      { namespace: "t", component: "c", endpoint: "e", instanceId: "7" },
      (req) => {
        seen = req.signal;
        return Promise.resolve(
          ReadableStream.from<GenerateChunk>([{
            token_ids: [1],
            index: 0,
            finish_reason: "length",
          }]),
        );
      },
    );
    let seen: AbortSignal | undefined;
    const caller = new AbortController();
    const stream = await plane.call(served.address, {}, { signal: caller.signal });
    const chunks = [];
    for await (const chunk of stream.readable) chunks.push(chunk);
    assert.equal(chunks.length, 1);
    caller.abort();
    assert.equal(seen?.aborted, false, "a finished request is not cancelled by a later abort");
    await plane.close();
  });
});
