/**
 * The official `openai` client against a real `sluice serve` child process on loopback
 * (sample engine, zero delay): chat and completions, streaming and not, logprobs, stop,
 * include_usage, models, and the client's error classes.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import type { Completion } from "openai/resources/completions";
import { type ServeProcess, startServe } from "./_helpers.ts";

// Sample engine token i is (i + 1) % 32000; in the Qwen3 vocabulary ids 1..93 are the
// printable ASCII characters after "!": 1 → '"', 2 → '#', 3 → '$', …
const EXPECTED = "\"#$%&'()*+";

describe("openai client against sluice serve", () => {
  let server: ServeProcess;
  let client: OpenAI;

  before(async () => {
    server = await startServe(["--engine", "sample", "--delay-ms", "0"]);
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });

  after(async () => {
    const code = await server?.stop();
    assert.equal(code, 0, `sluice serve should exit cleanly:\n${server?.output()}`);
  });

  it("lists the model learned from the worker's model card", async () => {
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ["sample-model"]);
  });

  it("answers a chat completion", async () => {
    const res = await client.chat.completions.create({
      model: "sample-model",
      messages: [{ role: "user", content: "Hello!" }],
      max_tokens: 10,
    });
    assert.equal(res.object, "chat.completion");
    assert.equal(res.choices[0].message.role, "assistant");
    assert.equal(res.choices[0].message.content, EXPECTED);
    assert.equal(res.choices[0].finish_reason, "length");
    assert.equal(res.usage?.completion_tokens, 10);
    // "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n" in Qwen3 tokens.
    assert.equal(res.usage?.prompt_tokens, 10);
    assert.equal(res.usage?.total_tokens, 20);
  });

  it("streams a chat completion with role first, finish reason and a usage chunk", async () => {
    const stream = await client.chat.completions.create({
      model: "sample-model",
      messages: [{ role: "user", content: "Hello!" }],
      max_completion_tokens: 10,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    assert.equal(text, EXPECTED);
    const finals = chunks.filter((c) => c.choices[0]?.finish_reason);
    assert.equal(finals.length, 1);
    assert.equal(finals[0].choices[0].finish_reason, "length");
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 });
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
    assert.ok(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === chunks[0].id));
  });

  it("stops at a stop string, without emitting it, in both modes", async () => {
    const res = await client.chat.completions.create({
      model: "sample-model",
      messages: [{ role: "user", content: "Hello!" }],
      max_tokens: 50,
      stop: ["&'"],
    });
    assert.equal(res.choices[0].message.content, '"#$%');
    assert.equal(res.choices[0].finish_reason, "stop");
    const stream = await client.completions.create({
      model: "sample-model",
      prompt: "Once",
      max_tokens: 50,
      stop: "()",
      stream: true,
    });
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0].text;
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    assert.equal(text, "\"#$%&'");
    assert.equal(finish, "stop");
  });

  it("returns chat logprobs with token strings from the tokenizer", async () => {
    const res = await client.chat.completions.create({
      model: "sample-model",
      messages: [{ role: "user", content: "Hello!" }],
      max_tokens: 3,
      logprobs: true,
      top_logprobs: 2,
    });
    const content = res.choices[0].logprobs?.content ?? [];
    assert.deepEqual(content.map((c) => c.token), ['"', "#", "$"]);
    // Sample engine: logprob of token t is -0.1 * (t % 10); rank r is token t + r - 1.
    assert.deepEqual(content.map((c) => Math.round(c.logprob * 10) / 10), [-0.1, -0.2, -0.3]);
    assert.deepEqual(content[0].top_logprobs.map((t) => t.token), ['"', "#"]);
    assert.deepEqual(content[0].bytes, [34]);
  });

  it("streams chat logprobs per token", async () => {
    const stream = await client.chat.completions.create({
      model: "sample-model",
      messages: [{ role: "user", content: "Hello!" }],
      max_tokens: 4,
      logprobs: true,
      top_logprobs: 1,
      stream: true,
    });
    const tokens: string[] = [];
    for await (const chunk of stream) {
      for (const entry of chunk.choices[0]?.logprobs?.content ?? []) tokens.push(entry.token);
    }
    assert.deepEqual(tokens, ['"', "#", "$", "%"]);
  });

  it("answers a completion with logprobs and text offsets", async () => {
    const res = await client.completions.create({
      model: "sample-model",
      prompt: "Once upon a time",
      max_tokens: 4,
      logprobs: 2,
    });
    assert.equal(res.object, "text_completion");
    assert.equal(res.choices[0].text, '"#$%');
    assert.equal(res.choices[0].finish_reason, "length");
    const lp = res.choices[0].logprobs!;
    assert.deepEqual(lp.tokens, ['"', "#", "$", "%"]);
    assert.deepEqual(lp.text_offset, [0, 1, 2, 3]);
    assert.deepEqual(Object.keys(lp.top_logprobs![1]), ["#", "$"]);
    assert.equal(res.usage?.prompt_tokens, 4);
  });

  it("streams a completion with include_usage", async () => {
    const stream = await client.completions.create({
      model: "sample-model",
      prompt: [1, 2, 3],
      max_tokens: 6,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: Completion[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.equal(chunks.map((c) => c.choices[0]?.text ?? "").join(""), EXPECTED.slice(0, 6));
    assert.deepEqual(chunks[chunks.length - 1].usage, {
      prompt_tokens: 3,
      completion_tokens: 6,
      total_tokens: 9,
    });
  });

  it("maps errors to the client's error classes", async () => {
    await assert.rejects(
      client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] }),
      (error: unknown) => error instanceof OpenAI.NotFoundError && error.code === "model_not_found",
    );
    await assert.rejects(
      client.chat.completions.create({ model: "sample-model", messages: [], max_tokens: 1 }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && error.param === "messages",
    );
  });
});
