/**
 * A large prompt does not freeze other streams (issue 8, defect 3), against a real
 * `sluice serve` child: a 7 MB chat prompt is refused from its size (400 naming
 * `messages`, `context_length_exceeded`) without being tokenized, and a prompt just under
 * the size bound is tokenized in chunks; a stream in flight meanwhile keeps its pace.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ServeProcess, startServe } from "./_helpers.ts";

/** Longest pause tolerated between two chunks of the stream (a 10 ms engine; busy CI). */
const MAX_GAP_MS = 600;

describe("large prompts against sluice serve", () => {
  let server: ServeProcess;

  before(async () => {
    server = await startServe(["--delay-ms", "10"]);
  });

  after(async () => {
    assert.equal(await server?.stop(), 0, server?.output());
  });

  /** Streams `tokens` tokens; resolves with each chunk's arrival time. */
  async function streamTimes(tokens: number): Promise<number[]> {
    const response = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "sample-model",
        prompt: "hi",
        max_tokens: tokens,
        stream: true,
      }),
    });
    const reader = response.body!.getReader();
    const times: number[] = [];
    while (!(await reader.read()).done) times.push(performance.now());
    return times;
  }

  function worstGap(times: number[]): number {
    let worst = 0;
    for (let i = 2; i < times.length; i++) worst = Math.max(worst, times[i] - times[i - 1]);
    return worst;
  }

  it("refuses a 7 MB chat prompt from its size while a stream keeps its pace", async () => {
    const content = "The quick brown fox jumps over the lazy dog.\n".repeat(160_000);
    const body = new TextEncoder().encode(JSON.stringify({
      model: "sample-model",
      messages: [{ role: "user", content }],
      max_tokens: 4,
    }));
    assert.ok(body.byteLength > 7_000_000);
    const stream = streamTimes(150);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sent = performance.now();
    const results = await Promise.all([0, 1].map(async () => {
      const response = await fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: body as Uint8Array<ArrayBuffer>,
      });
      return { status: response.status, body: await response.json() };
    }));
    const elapsed = performance.now() - sent;
    for (const { status, body } of results) {
      assert.equal(status, 400);
      assert.equal(body.error.code, "context_length_exceeded");
      assert.equal(body.error.param, "messages");
      assert.match(body.error.message, /maximum context length is 2048 tokens/);
    }
    assert.ok(elapsed < 3000, `refused in ${elapsed.toFixed(0)} ms`);
    const gap = worstGap(await stream);
    assert.ok(gap < MAX_GAP_MS, `worst inter-token gap ${gap.toFixed(0)} ms`);
  });

  it("tokenizes a prompt under the size bound in chunks, without stalling a stream", async () => {
    // Just under 2048 tokens × 128 bytes: tokenized (in chunks), then refused as too long.
    const prompt = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n".repeat(4400);
    assert.ok(prompt.length < 2048 * 128);
    const stream = streamTimes(150);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const responses = await Promise.all([0, 1, 2].map(() =>
      fetch(`${server.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "sample-model", prompt, max_tokens: 4 }),
      })
    ));
    for (const response of responses) {
      assert.equal(response.status, 400);
      const { error } = await response.json();
      assert.equal(error.code, "context_length_exceeded");
      assert.equal(error.param, "prompt");
      assert.match(error.message, /\d{5} in the prompt/);
    }
    const gap = worstGap(await stream);
    assert.ok(gap < MAX_GAP_MS, `worst inter-token gap ${gap.toFixed(0)} ms`);
  });
});
