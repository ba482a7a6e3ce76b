// `sluice serve --engine llamacpp` end to end (a real child process on loopback, the official
// `openai` client and fetch): greedy output equals node-llama-cpp called directly on the same
// file and prompt; 8 concurrent streams equal 8 sequential ones; a JSON-schema response_format
// returns JSON that validates; a cancelled stream frees the only sequence for the next
// request; /metrics shows the engine's KV and queue gauges.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import OpenAI from "openai";
import { parseGgufHeader } from "../../src/model/gguf/gguf_reader.ts";
import { createGgufTokenizer, type GgufTokenizer } from "../../src/tokenizer/gguf_tokenizer.ts";
import { type ServeProcess, startServe } from "../frontend/_helpers.ts";
import { cpuLlama, FixtureDir } from "./llama_cpp_helpers.ts";

const fixtures = new FixtureDir();
let model: string;
let server: ServeProcess;
let client: OpenAI;
let tokenizer: GgufTokenizer;
const flags = ["--engine", "llamacpp", "--gpu", "off", "--threads", "1", "--ctx-size", "512"];

before(async () => {
  model = await fixtures.model({ dtype: "q8_0", vocab: "gpt2" });
  const bytes = new Uint8Array(await readFile(model));
  tokenizer = createGgufTokenizer(parseGgufHeader(bytes, { metadataOnly: true }).metadata);
  server = await startServe([
    ...flags,
    "--model",
    model,
    "--model-name",
    "tiny",
    "--parallel",
    "8",
  ]);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
});

after(async () => {
  const code = await server?.stop();
  await fixtures.dispose();
  assert.equal(code, 0, `sluice serve should exit cleanly:\n${server?.output()}`);
});

/** Streams a greedy completion and returns its text and completion token count. */
async function greedy(prompt: string, maxTokens: number): Promise<{ text: string; count: number }> {
  const body = {
    model: "tiny",
    prompt,
    max_tokens: maxTokens,
    temperature: 0,
    stream: true as const,
    stream_options: { include_usage: true },
    ignore_eos: true, // vLLM's extension, accepted by Sluice's frontend
  };
  const stream = await client.completions.create(body);
  let text = "";
  let count = -1;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? "";
    if (chunk.usage) count = chunk.usage.completion_tokens;
  }
  return { text, count };
}

describe("sluice serve --engine llamacpp", () => {
  it("streams node-llama-cpp's greedy tokens for the same file and prompt", async () => {
    const prompt = "The river ran quietly past the old mill, and";
    const llama = await cpuLlama();
    const direct = await llama.loadModel({ modelPath: model });
    const context = await direct.createContext({ contextSize: 512, sequences: 1, threads: 1 });
    const ids: number[] = [];
    try {
      const promptIds = [...direct.tokenize(prompt, true)];
      assert.deepEqual(tokenizer.encode(prompt), promptIds); // the frontend's tokens
      for await (
        const t of context.getSequence().evaluate(promptIds, {
          temperature: 0,
          yieldEogToken: true,
        })
      ) {
        ids.push(t);
        if (ids.length >= 24) break;
      }
    } finally {
      await context.dispose();
      await direct.dispose();
    }
    const served = await greedy(prompt, ids.length);
    assert.equal(served.count, ids.length);
    assert.equal(served.text, tokenizer.decode(ids));
  });

  it("gives 8 concurrent streams the outputs of 8 sequential ones", async () => {
    const prompts = Array.from({ length: 8 }, (_, i) => `Request ${i}: the weather was`);
    const sequential = [];
    for (const p of prompts) sequential.push(await greedy(p, 16));
    const concurrent = await Promise.all(prompts.map((p) => greedy(p, 16)));
    assert.deepEqual(concurrent, sequential);
    assert.ok(sequential.every((r) => r.count === 16));
  });

  it("returns JSON that validates against a response_format schema", async () => {
    const schema = {
      type: "object",
      properties: {
        founded: { type: "string", format: "date" },
        size: { enum: ["small", "large"] },
        river: { type: "boolean" },
        year: { type: "integer" },
      },
      required: ["founded", "size", "river", "year"],
      additionalProperties: false,
    };
    for (const temperature of [0, 1]) {
      const response = await client.chat.completions.create({
        model: "tiny",
        messages: [{ role: "user", content: "Describe the town as JSON." }],
        max_tokens: 300,
        temperature,
        seed: 3,
        response_format: { type: "json_schema", json_schema: { name: "town", schema } },
      });
      const value = JSON.parse(response.choices[0].message.content!);
      assert.deepEqual(Object.keys(value).sort(), ["founded", "river", "size", "year"]);
      assert.match(value.founded, /^\d{4}-\d{2}-\d{2}$/, JSON.stringify(value));
      assert.ok(["small", "large"].includes(value.size));
      assert.equal(typeof value.river, "boolean");
      assert.ok(Number.isInteger(value.year));
    }
    const refused = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "tiny",
        messages: [{ role: "user", content: "x" }],
        response_format: {
          type: "json_schema",
          json_schema: { name: "n", schema: { type: "string", pattern: "^a+$" } },
        },
      }),
    });
    assert.equal(refused.status, 400);
    assert.match((await refused.json()).error.message, /"pattern"/);
  });

  it("exposes the engine's KV and queue gauges in /metrics", async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    for (const name of ["gpu_cache_usage_percent", "num_requests_waiting", "kv_cache_hit_rate"]) {
      assert.match(text, new RegExp(`sluice_worker_${name}\\{[^}]*\\} [0-9.]+`), name);
    }
  });
});

describe("sluice serve --engine llamacpp --parallel 1", () => {
  it("frees the only sequence when a client abandons a stream", async () => {
    const single = await startServe([
      ...flags,
      "--model",
      model,
      "--model-name",
      "tiny",
      "--parallel",
      "1",
      "--max-queue",
      "0",
    ]);
    try {
      const controller = new AbortController();
      const response = await fetch(`${single.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: "tiny",
          prompt: "Once",
          max_tokens: 400,
          ignore_eos: true,
          stream: true,
        }),
        signal: controller.signal,
      });
      const reader = response.body!.getReader();
      await reader.read(); // generation has started and holds the sequence
      controller.abort();
      await reader.closed.catch(() => undefined);
      // With no queue, a request arriving while the sequence is still held gets 503; the
      // sequence must come free promptly.
      let status = 0;
      const deadline = performance.now() + 5000;
      while (performance.now() < deadline) {
        const next = await fetch(`${single.url}/v1/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "tiny", prompt: "Twice", max_tokens: 4 }),
        });
        status = next.status;
        await next.body?.cancel();
        if (status === 200) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(status, 200);
    } finally {
      assert.equal(await single.stop(), 0, single.output());
    }
  });
});
