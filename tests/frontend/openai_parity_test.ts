/**
 * OpenAI parity of `sluice serve` (issue 8, defect 6), against a real child process:
 * `stream_options` without `stream`, invalid UTF-8, precise `param` names, `GET
 * /v1/models/{id}`, `n > 1` and list prompts (one choice per prompt × n, OpenAI's indices,
 * usage summed), and a text part without `text`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { readSse, type ServeProcess, startServe } from "./_helpers.ts";

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | number | null };
}

describe("OpenAI parity of sluice serve", () => {
  let server: ServeProcess;
  let client: OpenAI;

  before(async () => {
    server = await startServe(["--delay-ms", "0"]);
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });

  after(async () => {
    assert.equal(await server?.stop(), 0, server?.output());
  });

  const post = (path: string, body: unknown | Uint8Array) =>
    fetch(server.url + path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body instanceof Uint8Array ? body as Uint8Array<ArrayBuffer> : JSON.stringify(body),
    });

  async function expect400(path: string, body: unknown, param: string | null, message?: RegExp) {
    const response = await post(path, body);
    assert.equal(response.status, 400, JSON.stringify(body).slice(0, 120));
    const { error } = await response.json() as ErrorBody;
    assert.equal(error.param, param, error.message);
    assert.equal(error.type, "invalid_request_error");
    if (message) assert.match(error.message, message);
    return error;
  }

  const chat = (extra: Record<string, unknown>) => ({
    model: "sample-model",
    messages: [{ role: "user", content: "Hi" }],
    max_tokens: 2,
    ...extra,
  });

  it("refuses stream_options without stream", async () => {
    const options = { stream_options: { include_usage: true } };
    await expect400("/v1/chat/completions", chat(options), "stream_options", /stream is true/);
    await expect400("/v1/chat/completions", chat({ ...options, stream: false }), "stream_options");
    await expect400(
      "/v1/completions",
      { model: "sample-model", prompt: "x", ...options },
      "stream_options",
    );
  });

  it("refuses a body that is not valid UTF-8", async () => {
    const json = new TextEncoder().encode(JSON.stringify(chat({})));
    const bad = new Uint8Array([...json.slice(0, 40), 0xff, 0xfe, ...json.slice(40)]);
    const response = await post("/v1/chat/completions", bad);
    assert.equal(response.status, 400);
    const { error } = await response.json() as ErrorBody;
    assert.match(error.message, /not valid UTF-8/);
  });

  it("names the precise field in param", async () => {
    await expect400(
      "/v1/chat/completions",
      chat({ messages: [{ role: "wizard", content: "x" }] }),
      "messages.0.role",
    );
    await expect400(
      "/v1/chat/completions",
      chat({ messages: [{ role: "user", content: "a" }, { role: 7, content: "x" }] }),
      "messages.1.role",
    );
    await expect400(
      "/v1/chat/completions",
      chat({
        messages: [{ role: "user", content: [{ type: "text", text: "a" }, { type: "text" }] }],
      }),
      "messages.0.content.1.text",
      /"text" content part requires a string "text", got none/,
    );
    // The prompt alone overflows the context: the prompt is named, not max_tokens.
    const long = "hello ".repeat(5000);
    await expect400(
      "/v1/completions",
      { model: "sample-model", prompt: long, max_tokens: 4 },
      "prompt",
    );
    await expect400(
      "/v1/chat/completions",
      chat({ messages: [{ role: "user", content: long }], max_tokens: 4 }),
      "messages",
    );
    // Prompt fits, the completion budget does not: the budget is named.
    await expect400("/v1/chat/completions", chat({ max_tokens: 5000 }), "max_tokens");
    await expect400(
      "/v1/chat/completions",
      chat({ max_tokens: undefined, max_completion_tokens: 5000 }),
      "max_completion_tokens",
    );
  });

  it("answers GET /v1/models/{id}, and 404 with an OpenAI body for an unknown id", async () => {
    const model = await client.models.retrieve("sample-model");
    assert.equal(model.id, "sample-model");
    assert.equal(model.object, "model");
    const response = await fetch(`${server.url}/v1/models/gpt-7`);
    assert.equal(response.status, 404);
    const { error } = await response.json() as ErrorBody;
    assert.equal(error.code, "model_not_found");
    await assert.rejects(client.models.retrieve("gpt-7"), (e) => e instanceof OpenAI.NotFoundError);
  });

  it("answers list prompts and n > 1 with one choice per prompt × n (unary)", async () => {
    const res = await client.completions.create({
      model: "sample-model",
      prompt: ["one", "two two"],
      n: 2,
      max_tokens: 3,
    });
    assert.deepEqual(res.choices.map((c) => c.index), [0, 1, 2, 3]);
    for (const c of res.choices) {
      assert.equal(c.text, '"#$');
      assert.equal(c.finish_reason, "length");
    }
    const single = await client.completions.create({
      model: "sample-model",
      prompt: "one",
      max_tokens: 1,
    });
    const double = await client.completions.create({
      model: "sample-model",
      prompt: "two two",
      max_tokens: 1,
    });
    const prompts = single.usage!.prompt_tokens + double.usage!.prompt_tokens;
    assert.deepEqual(res.usage, {
      prompt_tokens: prompts,
      completion_tokens: 12,
      total_tokens: prompts + 12,
    });
    const ids = await client.completions.create({
      model: "sample-model",
      prompt: [[5, 6], [7]],
      max_tokens: 2,
    });
    assert.deepEqual(ids.choices.map((c) => c.index), [0, 1]);
    assert.equal(ids.usage!.prompt_tokens, 3);
  });

  it("streams list prompts and n > 1: every index, summed usage, one [DONE]", async () => {
    const response = await post("/v1/completions", {
      model: "sample-model",
      prompt: ["a", "b", "c"],
      n: 2,
      max_tokens: 4,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(response.status, 200);
    const frames = await readSse(response) as (string | Record<string, unknown>)[];
    assert.equal(frames.filter((f) => f === "[DONE]").length, 1);
    assert.equal(frames.at(-1), "[DONE]");
    const text = new Map<number, string>();
    const finish = new Map<number, unknown>();
    let usage: Record<string, number> | undefined;
    for (const f of frames.slice(0, -1) as Record<string, unknown>[]) {
      const choices = f.choices as { index: number; text: string; finish_reason: unknown }[];
      if (choices.length === 0) {
        usage = f.usage as Record<string, number>;
        continue;
      }
      for (const c of choices) {
        text.set(c.index, (text.get(c.index) ?? "") + c.text);
        if (c.finish_reason !== null) finish.set(c.index, c.finish_reason);
      }
    }
    assert.deepEqual([...text.keys()].sort(), [0, 1, 2, 3, 4, 5]);
    for (const t of text.values()) assert.equal(t, '"#$%');
    assert.equal(finish.size, 6);
    assert.equal(usage?.completion_tokens, 24);
    assert.equal(usage?.total_tokens, usage!.prompt_tokens + 24);
    assert.equal(
      frames.indexOf(frames.find((f) => typeof f === "object" && (f.choices as []).length === 0)!),
      frames.length - 2,
    );
  });

  it("answers chat n > 1 with the openai client", async () => {
    const res = await client.chat.completions.create({
      model: "sample-model",
      messages: [{ role: "user", content: "Hi" }],
      n: 3,
      max_tokens: 2,
    });
    assert.deepEqual(res.choices.map((c) => c.index), [0, 1, 2]);
    assert.equal(res.usage?.completion_tokens, 6);
    const stream = await client.chat.completions.create({
      model: "sample-model",
      messages: [{ role: "user", content: "Hi" }],
      n: 2,
      max_tokens: 2,
      stream: true,
    });
    const seen = new Set<number>();
    for await (const chunk of stream) for (const c of chunk.choices) seen.add(c.index);
    assert.deepEqual([...seen].sort(), [0, 1]);
  });

  it("refuses more than 128 choices, naming n", async () => {
    await expect400(
      "/v1/completions",
      { model: "sample-model", prompt: ["a", "b"], n: 100 },
      "n",
      /more than 128 choices/,
    );
  });
});

describe("several choices and client disconnects", () => {
  let server: ServeProcess;

  before(async () => {
    server = await startServe(["--delay-ms", "10"]);
  });

  after(async () => {
    assert.equal(await server?.stop(), 0, server?.output());
  });

  /** Sum of a gauge's samples in /metrics. */
  async function gauge(name: string): Promise<number> {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    let total = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith(`${name}{`)) total += Number(line.split(" ").at(-1));
    }
    return total;
  }

  it("a client that leaves a merged n > 1 stream stops every choice's generation", async () => {
    const client = new AbortController();
    const response = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "sample-model",
        prompt: ["a", "b"],
        n: 2,
        max_tokens: 1000,
        stream: true,
      }),
      signal: client.signal,
    });
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    await reader.read();
    assert.equal(await gauge("sluice_worker_inflight_requests"), 4);
    client.abort();
    await reader.cancel().catch(() => {});
    const deadline = performance.now() + 3000;
    while (await gauge("sluice_worker_inflight_requests") > 0) {
      assert.ok(
        performance.now() < deadline,
        "generations still in flight 3 s after the disconnect",
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
