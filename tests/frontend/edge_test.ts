/** The edge `{ fetch }` module serves the API in process, started by its first request. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import edge from "../../src/edge/server.ts";
import { createEdgeHandler } from "../../src/edge/mod.ts";
import { SampleEngine } from "../../engines/sample/mod.ts";
import { readSse } from "./_helpers.ts";

const JSON_HEADERS = { "content-type": "application/json" };

describe("edge handler", () => {
  it("the default export is a { fetch } that serves chat completions", async () => {
    assert.equal(typeof edge.fetch, "function");
    const res = await edge.fetch(
      new Request("http://edge/v1/chat/completions", {
        method: "POST",
        headers: JSON_HEADERS,
        body: JSON.stringify({
          model: "sample-model",
          messages: [{ role: "user", content: "hi" }],
          max_tokens: 2,
          stream: true,
        }),
      }),
    );
    assert.equal(res.status, 200);
    const frames = await readSse(res);
    assert.equal(frames.at(-1), "[DONE]");
    assert.equal(frames.length, 3);
    const models = await (await edge.fetch(new Request("http://edge/v1/models"))).json();
    assert.deepEqual(models.data.map((m: { id: string }) => m.id), ["sample-model"]);
  });

  it("starts lazily and shuts down", async () => {
    const handler = createEdgeHandler({ engine: SampleEngine, engineArgs: ["--delay-ms", "0"] });
    await handler.shutdown(); // never started: nothing to do
    const res = await handler.fetch(new Request("http://edge/health"));
    assert.equal(res.status, 200);
    await handler.shutdown();
  });
});
