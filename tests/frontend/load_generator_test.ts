/**
 * The load generator library (`src/bench/load_generator.ts`) with an injected `fetch`,
 * and `sluice bench` against a real `sluice serve`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseLoadArgs } from "../../src/bench/load_command_line.ts";
import { runLoad } from "../../src/bench/load_generator.ts";
import { spawnFixture } from "../fixtures/spawn_fixture.ts";
import { startServe } from "./_helpers.ts";

const encoder = new TextEncoder();

const chunk = (content: string) =>
  `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;

/** A `fetch` answering every request with `body()`'s stream. */
function fetchOf(body: () => ReadableStream<Uint8Array>): typeof fetch {
  return () =>
    Promise.resolve(new Response(body(), { headers: { "content-type": "text/event-stream" } }));
}

describe("load generator", () => {
  it("measures streams through the injected fetch and reports progress", async () => {
    const frames = [
      chunk("a"),
      chunk("b"),
      chunk("c"),
      `data: ${JSON.stringify({ choices: [], usage: { completion_tokens: 3 } })}\n\n`,
      "data: [DONE]\n\n",
    ];
    const lines: string[] = [];
    const result = await runLoad({
      url: "http://load.invalid",
      model: "m",
      concurrency: 2,
      requests: 6,
      warmup: 0,
      fetch: fetchOf(() => ReadableStream.from(frames.map((f) => encoder.encode(f)))),
      progress: (line) => lines.push(line),
    });
    assert.equal(result.completed, 6);
    assert.equal(result.errors, 0, result.errorSamples.join("\n"));
    assert.equal(result.outputTokens, 18);
    assert.ok(result.ttftMs.p50 >= 0);
    assert.match(lines.at(-1) ?? "", /6\/6 done, 0 errors/);
  });

  it("cancels the response body when the stream fails", async () => {
    const cancelled: unknown[] = [];
    // An error frame after content, and a frame that is not JSON before any content.
    for (const bad of [chunk("a") + 'data: {"error":{"message":"boom"}}\n\n', "data: {x\n\n"]) {
      cancelled.length = 0;
      const result = await runLoad({
        url: "http://load.invalid",
        model: "m",
        concurrency: 1,
        requests: 2,
        warmup: 0,
        // A server that sends one bad frame and then keeps the stream open.
        fetch: fetchOf(() =>
          new ReadableStream({
            start(controller) {
              controller.enqueue(encoder.encode(bad));
            },
            cancel(reason) {
              cancelled.push(reason);
            },
          })
        ),
      });
      assert.equal(result.errors, 2, bad);
      assert.equal(cancelled.length, 2, `every failed stream is cancelled (${bad.trim()})`);
    }
  });

  it("names a malformed flag", () => {
    assert.throws(() => parseLoadArgs(["--concurrency", "0"]), /--concurrency: expected an/);
    assert.throws(() => parseLoadArgs(["--endpoint", "embeddings"]), /--endpoint/);
    assert.throws(() => parseLoadArgs(["--bogus"]), TypeError);
    assert.deepEqual(parseLoadArgs(["--concurrency", "1,4"]).runs.map((r) => r.concurrency), [
      1,
      4,
    ]);
  });
});

describe("sluice bench", () => {
  it("runs the load generator against sluice serve and exits 0", async () => {
    const server = await startServe(["--delay-ms", "0"]);
    try {
      const args = ["bench", "--url", server.url, "--concurrency", "2", "--requests", "4"];
      await using bench = spawnFixture("apps/cli/main.ts", [...args, "--max-tokens", "4"], {});
      assert.equal(await bench.exited, 0, bench.stderr());
      assert.match(bench.stdout(), /concurrency 2: 4\/4 ok, 0 errors/);
    } finally {
      assert.equal(await server.stop(), 0, server.output());
    }
  });
});
