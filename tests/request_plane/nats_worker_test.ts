/**
 * A real worker (sample engine, the runtime's serve path) on the NATS request
 * plane over TCP, called from another connection over WebSocket: what a
 * frontend in another process sees.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLogger, createWorker } from "../../src/entries/serve.ts";
import { type GenerateChunk, isSluiceError } from "../../mod.ts";
import { MemoryDiscovery, type TransportAddress } from "../../src/entries/planes.ts";
import { SampleEngine } from "../../engines/sample/mod.ts";
import { connectNatsRequestPlane } from "../../src/request_plane/nats_request_plane.ts";
import { type NatsServer, startNatsServer } from "../support/nats_server.ts";

let nats: NatsServer;
before(async () => {
  nats = await startNatsServer();
});
after(async () => {
  await nats.stop();
});

describe("worker over the NATS request plane", () => {
  it("streams the sample engine's tokens across connections and transports; kill reaches the engine", async () => {
    const workerPlane = await connectNatsRequestPlane(() => nats.url);
    const frontendPlane = await connectNatsRequestPlane(() => nats.wsUrl);
    const discovery = new MemoryDiscovery();
    const worker = createWorker({
      engine: new SampleEngine({ delayMs: 2 }),
      config: { model_name: "sample-model" },
      discovery,
      requestPlane: workerPlane,
      logger: createLogger({ level: "off" }),
      timings: { gracePeriodMs: 0 },
      healthCanary: false,
    });
    try {
      await worker.start();
      const [entry] = await discovery.list<{ transport: TransportAddress }>("v1/instances");
      assert.ok("nats" in entry.value.transport, "the instance record names a NATS subject");
      const payload = {
        token_ids: [1, 2, 3],
        model: "sample-model",
        stop_conditions: { max_tokens: 20 },
      };
      const chunks: GenerateChunk[] = [];
      for await (const chunk of await frontendPlane.call(entry.value.transport, payload)) {
        chunks.push(chunk);
      }
      assert.deepEqual(chunks.flatMap((c) => c.token_ids).length, 20);
      assert.equal(chunks.at(-1)?.finish_reason, "length");
      assert.equal(chunks.at(-1)?.completion_usage?.prompt_tokens, 3);

      // A bad request is refused before any stream exists, typed.
      await assert.rejects(
        frontendPlane.call(entry.value.transport, { token_ids: [] }),
        (e: unknown) => isSluiceError(e, "InvalidArgument"),
      );

      // kill mid-stream: the engine ends with a cancelled terminal.
      const stream = await frontendPlane.call(entry.value.transport, {
        ...payload,
        stop_conditions: { max_tokens: 100_000 },
      });
      const it = stream[Symbol.asyncIterator]();
      await it.next();
      stream.kill();
      let last: GenerateChunk | undefined;
      for (let r = await it.next(); !r.done; r = await it.next()) last = r.value;
      assert.equal(last?.finish_reason, "cancelled");
      assert.equal(worker.inflight, 0);
    } finally {
      await worker.shutdown();
      await frontendPlane.close();
      await workerPlane.close();
      await discovery.close();
    }
  });
});
