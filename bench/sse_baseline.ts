/**
 * The baseline of the frontend benchmark: a bare hono SSE route that emits 100
 * OpenAI-shaped `chat.completion.chunk` events and `[DONE]` with hono's `streamSSE`
 * (one `writeSSE` per event, as a hand-written route would), served by the same
 * listen adapter as `sluice serve` (`Deno.serve` / `Bun.serve`). No engine, no
 * tokenizer, no routing: the ceiling of an SSE stream on this runtime.
 *
 *     deno run -A bench/sse_baseline.ts --port 0     (prints "listening on http://…:PORT")
 *
 * @module
 */
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { parseArgs } from "node:util";
import { serveHttp } from "../src/runtime/http_server.ts";

/** Events per stream. */
export const EVENTS = 100;

/** The baseline app: `POST /v1/chat/completions` streams {@linkcode EVENTS} chunks. */
export function createBaselineApp(events = EVENTS): Hono {
  const app = new Hono();
  app.post("/v1/chat/completions", async (c) => {
    const body = await c.req.json();
    const model = String(body.model ?? "baseline");
    const id = `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`;
    const created = Math.floor(Date.now() / 1000);
    return streamSSE(c, async (stream) => {
      for (let i = 0; i < events; i++) {
        await stream.writeSSE({
          data: JSON.stringify({
            id,
            object: "chat.completion.chunk",
            created,
            model,
            choices: [{
              index: 0,
              delta: { content: String.fromCharCode(34 + (i % 90)) },
              logprobs: null,
              finish_reason: i === events - 1 ? "length" : null,
            }],
          }),
        });
      }
      await stream.writeSSE({ data: "[DONE]" });
    });
  });
  return app;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
      (await import("node:process")).default.argv.slice(2),
    options: {
      port: { type: "string", default: "0" },
      host: { type: "string", default: "127.0.0.1" },
    },
  });
  const server = await serveHttp(createBaselineApp().fetch, {
    port: Number(values.port),
    hostname: values.host,
  });
  console.log(`listening on http://${server.hostname}:${server.port}`);
}
