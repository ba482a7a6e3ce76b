/**
 * The edge entry as a frontend of remote workers: with `NATS_SERVER=ws://…` it discovers a
 * `sluice worker` (on NATS over TCP, NATS KV discovery) and calls it over NATS WebSocket.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { spawnFixture } from "../fixtures/spawn_fixture.ts";
import { type NatsServer, startNatsServer } from "../support/nats_server.ts";
import { freePort } from "../support/loopback_process.ts";
import { createRemoteEdgeHandler, isWebSocketNatsServer } from "../../src/edge/mod.ts";
import { createLogger } from "../../src/logging/logger.ts";

let nats: NatsServer | undefined;
before(async () => {
  nats = await startNatsServer();
});
after(async () => {
  await nats?.stop();
});

async function models(url: string): Promise<string[]> {
  const body = await (await fetch(`${url}/v1/models`)).json() as { data: { id: string }[] };
  return body.data.map((m) => m.id);
}

describe("edge entry over NATS WebSocket", () => {
  it("with NATS_SERVER=ws:// it serves a worker found in NATS KV, and follows it leaving", async () => {
    await using worker = spawnFixture("apps/cli/main.ts", [
      "worker",
      "--engine",
      "sample",
      "--delay-ms",
      "0",
      "--discovery-backend",
      "nats",
      "--nats-server",
      nats!.url,
    ], { DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS: "0", DYN_DISCOVERY_TTL_SECS: "3" });
    await worker.waitForStderr(/worker serving/, 30_000);
    assert.match(worker.stderr(), /discovery nats, request plane nats, event plane nats/);

    await using edge = spawnFixture("tests/fixtures/edge_remote_serve.ts", [], {
      NATS_SERVER: nats!.wsUrl,
      SLUICE_ENGINE: "no-such-engine", // never loaded in the remote mode
    });
    const { url } = await edge.waitFor((e) => e.event === "listening", 30_000) as unknown as {
      url: string;
    };
    assert.deepEqual(await models(url), ["sample-model"], edge.stderr());

    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused" });
    const stream = await client.chat.completions.create({
      model: "sample-model",
      messages: [{ role: "user", content: "Hi" }],
      max_tokens: 6,
      stream: true,
      stream_options: { include_usage: true },
    });
    let chunks = 0;
    let usage: number | undefined;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) chunks++;
      if (chunk.usage) usage = chunk.usage.completion_tokens;
    }
    assert.ok(chunks > 0);
    assert.equal(usage, 6);

    // The edge's three planes connect over WebSocket (the worker's over TCP).
    const connz = await (await fetch(
      `http://127.0.0.1:${nats!.monitorPort}/connz?subs=false`,
    )).json() as { connections: { name?: string; kind?: string; type?: string }[] };
    const ws = connz.connections.filter((c) => c.type === "websocket").map((c) => c.name).sort();
    assert.deepEqual(ws, ["sluice-discovery", "sluice-event-plane", "sluice-request-plane"]);

    worker.kill("SIGTERM");
    assert.equal(await worker.exited, 0, worker.stderr());
    const deadline = performance.now() + 10_000;
    while ((await models(url)).length > 0) {
      assert.ok(performance.now() < deadline, "the model did not leave /v1/models");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    edge.kill("SIGTERM");
    assert.equal(await edge.exited, 0, edge.stderr());
  });

  it("answers 503 naming the address when NATS cannot be reached, and retries later", async () => {
    const wsUrl = `ws://127.0.0.1:${await freePort()}`;
    const env = (name: string) => (name === "NATS_SERVER" ? wsUrl : undefined);
    assert.ok(isWebSocketNatsServer(env));
    const logged: string[] = [];
    const logger = createLogger({ level: "error", sink: (line) => logged.push(line) });
    const handler = createRemoteEdgeHandler({ env, logger });
    try {
      for (let i = 0; i < 2; i++) {
        const res = await handler.fetch(new Request("http://edge/v1/models"));
        assert.equal(res.status, 503);
        const body = await res.json() as { error: { message: string } };
        assert.match(body.error.message, new RegExp(`Cannot connect to NATS at ${wsUrl}`));
      }
      assert.equal(logged.length, 2);
      assert.match(logged[0], /cannot connect the edge frontend/);
    } finally {
      await handler.shutdown();
    }
  });

  it("the in-process edge stays the default for nats:// or no NATS_SERVER", () => {
    assert.equal(isWebSocketNatsServer(() => undefined), false);
    assert.equal(isWebSocketNatsServer(() => "nats://127.0.0.1:4222"), false);
    assert.equal(isWebSocketNatsServer(() => "wss://nats.example:443"), true);
  });
});
