/**
 * Client disconnect kills the request end to end: a real HTTP client aborts mid-stream
 * (or while a non-streaming request is generating) and the engine observes its signal
 * within 100 ms, `abort(context)` is called, its generator's `finally` runs, and the
 * router's in-flight count returns to zero. Runs on the runtime's own listener and on
 * the `node:http` adapter.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "../../src/logging/logger.ts";
import { createEmbeddedServer, type EmbeddedServer } from "../../src/serve/mod.ts";
import { waitUntil } from "../fixtures/embedded_worker.ts";
import { factoryOf, ObservedEngine } from "./_helpers.ts";

const JSON_HEADERS = { "content-type": "application/json" };

const quiet = createLogger({ level: "error" });

async function withServer(
  adapter: "node" | undefined,
  engine: ObservedEngine,
  body: (server: EmbeddedServer) => Promise<void>,
): Promise<void> {
  const server = await createEmbeddedServer({
    engine: factoryOf(engine),
    port: 0,
    hostname: "127.0.0.1",
    httpAdapter: adapter,
    logger: quiet,
    healthCanary: false,
  });
  try {
    await body(server);
  } finally {
    await server.shutdown();
  }
}

function request(stream: boolean) {
  return JSON.stringify({
    model: "test-model",
    messages: [{ role: "user", content: "tell me everything" }],
    max_tokens: 2000,
    stream,
  });
}

async function assertKilled(engine: ObservedEngine, server: EmbeddedServer, abortedAt: number) {
  const seen = engine.observations[0];
  await waitUntil(() => seen.signalAt !== undefined, 2000, "the engine's signal");
  const latency = seen.signalAt! - abortedAt;
  assert.ok(latency < 100, `engine saw the cancellation after ${latency.toFixed(1)} ms`);
  await waitUntil(() => seen.abortAt !== undefined, 1000, "abort(context)");
  await waitUntil(() => seen.finalizedAt !== undefined, 1000, "the generator's finally");
  assert.ok(seen.yielded < 2000, "the engine stopped early");
  const [slot] = server.frontend.table.allWorkers();
  await waitUntil(() => slot.inflight === 0, 1000, "the router's in-flight count to drop");
  await waitUntil(
    () =>
      /sluice_frontend_client_disconnects_total\{model="test-model"\} 1/.test(
        server.metrics.render(),
      ),
    1000,
    "the disconnect metric",
  );
}

for (const adapter of [undefined, "node"] as const) {
  const name = adapter ?? "native";
  describe(`client disconnect (${name} listener)`, () => {
    it("mid-stream kills the request within 100 ms", async () => {
      const engine = new ObservedEngine({ delayMs: 2 });
      await withServer(adapter, engine, async (server) => {
        const client = new AbortController();
        const res = await fetch(`${server.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: request(true),
          signal: client.signal,
        });
        assert.equal(res.status, 200);
        const reader = res.body!.getReader();
        let text = "";
        while ((text.match(/"content"/g) ?? []).length < 5) {
          const { value, done } = await reader.read();
          assert.equal(done, false);
          text += new TextDecoder().decode(value);
        }
        const abortedAt = performance.now();
        client.abort();
        await reader.read().catch(() => {});
        await assertKilled(engine, server, abortedAt);
        // The server keeps serving.
        const next = await fetch(`${server.url}/v1/completions`, {
          method: "POST",
          headers: JSON_HEADERS,
          body: JSON.stringify({ model: "test-model", prompt: "x", max_tokens: 2 }),
        });
        assert.equal((await next.json()).choices[0].text, '"#');
      });
    });

    it("during a non-streaming request kills it too", async () => {
      const engine = new ObservedEngine({ delayMs: 2 });
      await withServer(adapter, engine, async (server) => {
        const client = new AbortController();
        const pending = fetch(`${server.url}/v1/chat/completions`, {
          method: "POST",
          headers: JSON_HEADERS,
          body: request(false),
          signal: client.signal,
        }).catch((error) => error);
        await waitUntil(() => (engine.observations[0]?.yielded ?? 0) >= 5, 5000, "tokens");
        const abortedAt = performance.now();
        client.abort();
        await pending;
        await assertKilled(engine, server, abortedAt);
      });
    });
  });
}
